"""1C's ``$filter`` / ``$orderby`` dialect (bas-odata.md §4) and the literal syntax shared with
entity keys and virtual-table parameters.

An expression is tokenized, parsed by recursive descent and compiled straight into Python
closures, so a filter over thousands of objects costs one closure call per object. Everything 1C
refuses is refused here with the same error code (14): the ``in`` operator, the unsupported
functions, and — the trap this emulator exists to catch — a ``+`` where a space should be,
because 1C does not decode ``+`` in a query string as a space.

String comparisons are case-insensitive, as in 1C's query language on its usual collations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import re
from collections.abc import Callable
from typing import Any

from .schema import EMPTY_REF, NAMESPACE, UNDEFINED_TYPE, Prop, Shape

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"\w+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_PUNCT = "(),/:="
_SPACES = " \t\r\n"
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M",
                     "%Y-%m-%d")

# Functions the vendor's chapter lists as unsupported, plus OData v4's ``contains``.
UNSUPPORTED_FUNCTIONS = frozenset({
    "length", "indexof", "replace", "tolower", "toupper", "trim", "years", "days", "hours",
    "seconds", "floor", "ceiling", "contains",
})


class QueryError(Exception):
    """A query 1C would refuse. ``code`` is the odata.error code (14: query-option parse)."""

    def __init__(self, message: str, code: str = "14") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Guid(str):
    """A GUID value. A distinct type so that a GUID never compares equal to a string."""

    __slots__ = ()


@dataclasses.dataclass(frozen=True)
class TypedValue:
    """A composite attribute's value with its dispatch type, or the result of ``cast()``."""

    value: Any
    type_name: str  # "StandardODATA.Document_X", "StandardODATA.Undefined", "Edm.String"


def is_guid(text: Any) -> bool:
    return isinstance(text, str) and bool(_GUID.match(text))


@functools.lru_cache(maxsize=65536)
def parse_datetime(text: str) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM:SS`` (seconds and fraction optional). Raises ValueError."""
    for fmt in _DATETIME_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a 1C date-time: {text!r}")


# --- tokens ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  # "lit", "name", "punct", "end"
    value: Any
    pos: int
    type: str = ""  # literals: "string", "number", "bool", "null", "guid", "datetime"


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The body of the quoted literal opening at ``start`` (``''`` is one quote) and the
    index just past its closing quote."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                chars.append("'")
                i += 2
                continue
            return "".join(chars), i + 1
        chars.append(ch)
        i += 1
    raise QueryError(f"Незакритий рядковий літерал, що починається в позиції {start}")


def _typed_literal(prefix: str, body: str, pos: int) -> Token:
    if prefix == "guid":
        if not _GUID.match(body):
            raise QueryError(f"Неправильний літерал guid'{body}' (позиція {pos})")
        return Token("lit", Guid(body.lower()), pos, "guid")
    if prefix == "datetime":
        try:
            return Token("lit", parse_datetime(body), pos, "datetime")
        except ValueError:
            raise QueryError(f"Неправильний літерал datetime'{body}' (позиція {pos})") from None
    raise QueryError(f"Літерал {prefix}'…' не підтримується (позиція {pos})")


def _unexpected(ch: str, pos: int) -> QueryError:
    if ch == "+":
        return QueryError(
            f"Помилка розбору виразу: неочікуваний символ '+' у позиції {pos}. 1С не декодує "
            "'+' у рядку запиту як пробіл: кодуйте пробіли як %20"
        )
    return QueryError(f"Помилка розбору виразу: неочікуваний символ {ch!r} у позиції {pos}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACES:
            i += 1
        elif ch == "'":
            body, i_next = _read_quoted(text, i)
            tokens.append(Token("lit", body, i, "string"))
            i = i_next
        elif ch in _PUNCT:
            tokens.append(Token("punct", ch, i))
            i += 1
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            end = match.end()
            if end < n and (text[end].isalpha() or text[end] == "_"):
                raise QueryError(f"Неправильне число в позиції {i} (експоненту 1С не приймає)")
            number = match.group()
            tokens.append(Token("lit", float(number) if "." in number else int(number), i,
                                "number"))
            i = end
        elif ch.isalpha() or ch == "_":
            match = _NAME.match(text, i)
            assert match is not None
            word, end = match.group(), match.end()
            if end < n and text[end] == "'":
                body, i_next = _read_quoted(text, end)
                tokens.append(_typed_literal(word.lower(), body, i))
                i = i_next
                continue
            lowered = word.lower()
            if lowered in ("true", "false"):
                tokens.append(Token("lit", lowered == "true", i, "bool"))
            elif lowered == "null":
                tokens.append(Token("lit", None, i, "null"))
            else:
                tokens.append(Token("name", word, i))
            i = end
        else:
            raise _unexpected(ch, i)
    tokens.append(Token("end", None, n))
    return tokens


# --- compiled nodes ---------------------------------------------------------------------------

Scope = dict[str, Any]
Evaluator = Callable[[dict, Scope], Any]

_STATIC_TYPES = {"guid": "guid", "datetime": "datetime", "double": "number", "int64": "number",
                 "bool": "bool", "string": "string", "enum": "string", "composite": "typed"}
_COMPARABLE = {("string", "string"), ("number", "number"), ("datetime", "datetime"),
               ("bool", "bool"), ("guid", "guid"), ("typed", "typed"), ("typed", "guid"),
               ("guid", "typed")}
_ORDERING = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
             "lt": operator.lt, "le": operator.le}
_ARITHMETIC = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
               "div": operator.truediv, "mod": operator.mod}


@dataclasses.dataclass(frozen=True)
class Node:
    type: str  # a static type from _STATIC_TYPES' values, "null" or "any"
    ev: Evaluator
    prop: Prop | None = None  # a property of the filtered set itself (not via navigation)
    const: bool = False
    value: Any = None
    # Conjunctive ``prop eq literal`` terms, used by the store to pick candidates by index.
    hints: tuple[tuple[str, Any], ...] = ()


def _const(value: Any, type_: str) -> Node:
    return Node(type_, lambda row, scope: value, const=True, value=value)


@dataclasses.dataclass
class Resolver:
    """How navigation paths (``Контрагент/ИНН``) reach other objects."""

    shape_of: Callable[[str], Shape | None]
    lookup: Callable[[str, str], dict | None]


@dataclasses.dataclass(frozen=True)
class Compiled:
    predicate: Callable[[dict], bool]
    equalities: tuple[tuple[str, Any], ...]  # (property, value) every match must satisfy


# --- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, shape: Shape, resolver: Resolver | None) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.shape = shape
        self.resolver = resolver
        self.variables: dict[str, Shape] = {}

    # token helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at_word(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "name" and token.value.lower() in words:
            return token.value.lower()
        return None

    def at_punct(self, ch: str) -> bool:
        token = self.peek()
        return token.kind == "punct" and token.value == ch

    def expect_punct(self, ch: str) -> None:
        token = self.advance()
        if token.kind != "punct" or token.value != ch:
            raise QueryError(f"Очікувався символ '{ch}' у позиції {token.pos}")

    def expect_name(self) -> str:
        token = self.advance()
        if token.kind != "name":
            raise QueryError(f"Очікувалося ім'я властивості у позиції {token.pos}")
        return token.value

    def at_end(self) -> bool:
        return self.peek().kind == "end"

    def trailing(self) -> QueryError:
        token = self.peek()
        if token.kind == "name" and token.value.lower() == "in":
            return QueryError(
                "Оператор 'in' не підтримується стандартним інтерфейсом OData; "
                "використовуйте 'eq … or eq …'"
            )
        shown = token.value if token.kind != "end" else "кінець рядка"
        return QueryError(f"Помилка розбору виразу: неочікувана лексема {shown!r} у позиції "
                          f"{token.pos}")

    # grammar
    def whole(self) -> Node:
        node = self.disjunction()
        if not self.at_end():
            raise self.trailing()
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.at_word("or"):
            self.advance()
            node = _logic("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.at_word("and"):
            self.advance()
            node = _logic("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.at_word("not"):
            self.advance()
            inner = self.negation()
            _want_bool(inner, "not")
            ev = inner.ev
            return Node("bool", lambda row, scope: not ev(row, scope))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        op = self.at_word(*_ORDERING)
        if op is None:
            return left
        self.advance()
        return _compare(op, left, self.additive())

    def additive(self) -> Node:
        node = self.multiplicative()
        while (op := self.at_word("add", "sub")) is not None:
            self.advance()
            node = _arithmetic(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.primary()
        while (op := self.at_word("mul", "div", "mod")) is not None:
            self.advance()
            node = _arithmetic(op, node, self.primary())
        return node

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "lit":
            return _const(token.value, token.type)
        if token.kind == "punct" and token.value == "(":
            node = self.disjunction()
            self.expect_punct(")")
            return node
        if token.kind == "name":
            if self.at_punct("("):
                return self.call(token.value)
            return self.path(token.value)
        if token.kind == "end":
            raise QueryError("Помилка розбору виразу: вираз обривається")
        raise QueryError(f"Помилка розбору виразу: неочікувана лексема {token.value!r} у "
                         f"позиції {token.pos}")

    # paths
    def path(self, first: str) -> Node:
        if first in self.variables:
            variable = first
            if not self.at_punct("/"):
                raise QueryError(f"Після змінної {variable} очікувалася властивість")
            self.advance()
            return self.member(self.variables[variable], lambda row, scope: scope.get(variable),
                               self.expect_name())
        return self.member(self.shape, None, first)

    def member(self, shape: Shape, getter: Evaluator | None, name: str) -> Node:
        prop = shape.props.get(name)
        if prop is not None:
            if self.at_punct("/"):
                raise QueryError(f"Властивість {name} не має вкладених властивостей")
            return _accessor(prop, getter)
        if name in shape.tabular:
            self.expect_punct("/")
            function = self.expect_name().lower()
            if function not in ("any", "all"):
                raise QueryError(f"Для табличної частини {name} очікувалося any() або all()")
            return self.lambda_(function, name, shape.tabular[name], getter)
        target = shape.navigation.get(name)
        if target is not None and self.at_punct("/") and self.resolver is not None:
            self.advance()
            target_shape = self.resolver.shape_of(target)
            if target_shape is None:
                raise QueryError(f"Тип {target} не опубліковано", "8")
            lookup = self.resolver.lookup
            key_prop = f"{name}_Key"

            def navigate(row: dict, scope: Scope) -> dict | None:
                obj = row if getter is None else getter(row, scope)
                if obj is None:
                    return None
                key = obj.get(key_prop)
                return None if not key or key == EMPTY_REF else lookup(target, key)

            return self.member(target_shape, navigate, self.expect_name())
        raise QueryError(f"Властивість \"{name}\" не знайдена в типі {shape.name}")

    def lambda_(self, function: str, section: str, row_shape: Shape,
                getter: Evaluator | None) -> Node:
        self.expect_punct("(")

        def rows(row: dict, scope: Scope) -> list[dict]:
            obj = row if getter is None else getter(row, scope)
            return (obj or {}).get(section) or []

        if self.at_punct(")"):
            self.advance()
            if function == "all":
                return Node("bool", lambda row, scope: True)
            return Node("bool", lambda row, scope: bool(rows(row, scope)))
        variable = self.expect_name()
        self.expect_punct(":")
        if variable in self.variables:
            raise QueryError(f"Змінна {variable} вже визначена", "21")
        self.variables[variable] = row_shape
        body = self.disjunction()
        del self.variables[variable]
        self.expect_punct(")")
        _want_bool(body, function)
        test = body.ev
        quantifier = any if function == "any" else all

        def evaluate(row: dict, scope: Scope) -> bool:
            saved = scope.get(variable)
            try:
                return quantifier(_bind(scope, variable, item) and test(row, scope)
                                  for item in rows(row, scope))
            finally:
                scope[variable] = saved

        return Node("bool", evaluate)

    # functions
    def call(self, name: str) -> Node:
        lowered = name.lower()
        if lowered in UNSUPPORTED_FUNCTIONS:
            raise QueryError(f"Функція {name}() не підтримується стандартним інтерфейсом OData")
        builder = _FUNCTIONS.get(lowered)
        if builder is None:
            raise QueryError(f"Невідома функція {name}()")
        self.expect_punct("(")
        args: list[Node] = []
        if not self.at_punct(")"):
            args.append(self.disjunction())
            while self.at_punct(","):
                self.advance()
                args.append(self.disjunction())
        self.expect_punct(")")
        return builder(lowered, args)


def _bind(scope: Scope, variable: str, item: dict) -> bool:
    scope[variable] = item
    return True


def _accessor(prop: Prop, getter: Evaluator | None) -> Node:
    name, kind = prop.name, prop.kind
    if kind == "composite":
        type_name = f"{name}_Type"

        def composite(row: dict, scope: Scope) -> TypedValue | None:
            obj = row if getter is None else getter(row, scope)
            if obj is None:
                return None
            return TypedValue(obj.get(name), obj.get(type_name) or UNDEFINED_TYPE)

        return Node("typed", composite, prop if getter is None else None)

    if getter is None:
        def raw(row: dict, scope: Scope) -> Any:
            return row.get(name)
    else:
        def raw(row: dict, scope: Scope) -> Any:
            obj = getter(row, scope)
            return None if obj is None else obj.get(name)

    ev: Evaluator
    if kind == "guid":
        def ev(row: dict, scope: Scope) -> Any:
            value = raw(row, scope)
            return None if value is None else Guid(value)
    elif kind == "datetime":
        def ev(row: dict, scope: Scope) -> Any:
            value = raw(row, scope)
            return None if value is None else parse_datetime(value)
    elif kind == "int64":
        def ev(row: dict, scope: Scope) -> Any:
            value = raw(row, scope)
            return None if value is None else int(value)
    else:
        ev = raw
    return Node(_STATIC_TYPES[kind], ev, prop if getter is None else None)


def _want_bool(node: Node, where: str) -> None:
    if node.type not in ("bool", "any"):
        raise QueryError(f"Операнд {where} має бути логічним виразом")


def _logic(op: str, left: Node, right: Node) -> Node:
    _want_bool(left, op)
    _want_bool(right, op)
    a, b = left.ev, right.ev
    if op == "and":
        return Node("bool", lambda row, scope: bool(a(row, scope)) and bool(b(row, scope)),
                    hints=left.hints + right.hints)
    return Node("bool", lambda row, scope: bool(a(row, scope)) or bool(b(row, scope)))


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(op: str, left: Node, right: Node) -> Node:
    types = (left.type, right.type)
    loose = "any" in types or "null" in types
    if not loose and types not in _COMPARABLE:
        raise QueryError(f"Несумісні типи операндів у порівнянні {op}: {types[0]} і {types[1]}")
    a, b = left.ev, right.ev
    if "typed" in types:
        if op not in ("eq", "ne"):
            raise QueryError(f"Значення складеного типу не можна порівнювати операцією {op}")
        want_equal = op == "eq"

        def typed(row: dict, scope: Scope) -> bool:
            x, y = a(row, scope), b(row, scope)
            if isinstance(x, TypedValue) and isinstance(y, TypedValue):
                same = _norm(x.value) == _norm(y.value) and x.type_name == y.type_name
            elif x is None or y is None:
                other = y if x is None else x
                same = other is None or (isinstance(other, TypedValue)
                                         and other.type_name == UNDEFINED_TYPE)
            else:
                same = False  # a composite against a bare GUID never matches (§4: cast it)
            return same == want_equal

        return Node("bool", typed)

    compare = _ORDERING[op]
    fold = "string" in types

    def plain(row: dict, scope: Scope) -> bool:
        x, y = a(row, scope), b(row, scope)
        if x is None or y is None:
            if op == "eq":
                return x is None and y is None
            return op == "ne" and not (x is None and y is None)
        if fold and isinstance(x, str) and isinstance(y, str):
            x, y = x.casefold(), y.casefold()
        try:
            return compare(x, y)
        except TypeError:
            return False

    hints: tuple[tuple[str, Any], ...] = ()
    if op == "eq":
        for prop_node, const_node in ((left, right), (right, left)):
            if (prop_node.prop is not None and const_node.const and const_node.value is not None
                    and prop_node.prop.kind in ("string", "enum", "guid")):
                hints = ((prop_node.prop.name, const_node.value),)
    return Node("bool", plain, hints=hints)


def _arithmetic(op: str, left: Node, right: Node) -> Node:
    for node in (left, right):
        if node.type not in ("number", "any", "null"):
            raise QueryError(f"Операція {op} можлива лише над числами")
    function = _ARITHMETIC[op]
    a, b = left.ev, right.ev

    def evaluate(row: dict, scope: Scope) -> Any:
        x, y = a(row, scope), b(row, scope)
        if x is None or y is None:
            return None
        try:
            return function(x, y)
        except (ZeroDivisionError, TypeError):
            return None

    return Node("number", evaluate)


# --- functions --------------------------------------------------------------------------------


def _arity(name: str, args: list[Node], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise QueryError(f"Неправильна кількість аргументів функції {name}()", "21")


def _want(name: str, node: Node, *types: str) -> None:
    if node.type not in (*types, "any", "null"):
        raise QueryError(f"Неправильний тип аргументу функції {name}(): {node.type}", "21")


def _fold(value: Any) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _string_predicate(name: str, args: list[Node]) -> Node:
    _arity(name, args, 2, 2)
    for arg in args:
        _want(name, arg, "string")
    first, second = args[0].ev, args[1].ev
    tests: dict[str, Callable[[str, str], bool]] = {
        # substringof(needle, haystack) is v3's argument order.
        "substringof": lambda x, y: x in y,
        "startswith": lambda x, y: x.startswith(y),
        "endswith": lambda x, y: x.endswith(y),
    }
    test = tests[name]

    def evaluate(row: dict, scope: Scope) -> bool:
        x, y = _fold(first(row, scope)), _fold(second(row, scope))
        return x is not None and y is not None and test(x, y)

    return Node("bool", evaluate)


def like_regex(pattern: str) -> re.Pattern[str]:
    """The query language's ПОДОБНО: ``%`` any run, ``_`` one character, ``[…]`` a set."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _like(name: str, args: list[Node]) -> Node:
    _arity(name, args, 2, 2)
    for arg in args:
        _want(name, arg, "string")
    subject, pattern_node = args[0].ev, args[1]
    fixed = like_regex(pattern_node.value) if pattern_node.const and pattern_node.value else None

    def evaluate(row: dict, scope: Scope) -> bool:
        value = subject(row, scope)
        if not isinstance(value, str):
            return False
        regex = fixed
        if regex is None:
            pattern = pattern_node.ev(row, scope)
            if not isinstance(pattern, str):
                return False
            regex = like_regex(pattern)
        return regex.fullmatch(value) is not None

    return Node("bool", evaluate)


def _substring(name: str, args: list[Node]) -> Node:
    _arity(name, args, 2, 3)
    _want(name, args[0], "string")
    for arg in args[1:]:
        _want(name, arg, "number")
    evs = [arg.ev for arg in args]

    def evaluate(row: dict, scope: Scope) -> str | None:
        values = [ev(row, scope) for ev in evs]
        if any(v is None for v in values):
            return None
        start = int(values[1])
        return values[0][start:] if len(values) == 2 else values[0][start:start + int(values[2])]

    return Node("string", evaluate)


def _concat(name: str, args: list[Node]) -> Node:
    _arity(name, args, 2, 8)
    for arg in args:
        _want(name, arg, "string")
    evs = [arg.ev for arg in args]
    return Node("string", lambda row, scope: "".join(str(ev(row, scope) or "") for ev in evs))


_DATE_PARTS: dict[str, Callable[[dt.datetime], int]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
    "quarter": lambda d: (d.month - 1) // 3 + 1,
    "dayofweek": lambda d: d.isoweekday(),  # ДЕНЬНЕДЕЛИ: Monday = 1
    "dayofyear": lambda d: d.timetuple().tm_yday,
}


def _date_part(name: str, args: list[Node]) -> Node:
    _arity(name, args, 1, 1)
    _want(name, args[0], "datetime")
    part, ev = _DATE_PARTS[name], args[0].ev

    def evaluate(row: dict, scope: Scope) -> int | None:
        value = ev(row, scope)
        return None if value is None else part(value)

    return Node("number", evaluate)


_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    for day in range(value.day, 27, -1):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return value.replace(year=year, month=month, day=min(value.day, 28))


def _unit_arg(name: str, node: Node) -> str:
    unit = str(node.value).lower() if node.const else ""
    if unit not in (*_UNIT_SECONDS, "month", "quarter", "year"):
        raise QueryError(f"Неправильна одиниця часу у функції {name}()", "21")
    return unit


def _dateadd(name: str, args: list[Node]) -> Node:
    _arity(name, args, 3, 3)
    _want(name, args[0], "datetime")
    _want(name, args[2], "number")
    unit, date_ev, count_ev = _unit_arg(name, args[1]), args[0].ev, args[2].ev

    def evaluate(row: dict, scope: Scope) -> dt.datetime | None:
        value, count = date_ev(row, scope), count_ev(row, scope)
        if value is None or count is None:
            return None
        if unit in _UNIT_SECONDS:
            return value + dt.timedelta(seconds=_UNIT_SECONDS[unit] * count)
        months = {"month": 1, "quarter": 3, "year": 12}[unit] * int(count)
        return _add_months(value, months)

    return Node("datetime", evaluate)


def _datedifference(name: str, args: list[Node]) -> Node:
    _arity(name, args, 3, 3)
    _want(name, args[0], "datetime")
    _want(name, args[1], "datetime")
    unit, first, second = _unit_arg(name, args[2]), args[0].ev, args[1].ev

    def evaluate(row: dict, scope: Scope) -> int | None:
        a, b = first(row, scope), second(row, scope)
        if a is None or b is None:
            return None
        if unit in _UNIT_SECONDS:
            return int((b - a).total_seconds() // _UNIT_SECONDS[unit])
        months = (b.year - a.year) * 12 + b.month - a.month
        return months // {"month": 1, "quarter": 3, "year": 12}[unit]

    return Node("number", evaluate)


def _round(name: str, args: list[Node]) -> Node:
    _arity(name, args, 1, 2)
    for arg in args:
        _want(name, arg, "number")
    value_ev = args[0].ev
    digits_ev = args[1].ev if len(args) == 2 else (lambda row, scope: 0)

    def evaluate(row: dict, scope: Scope) -> float | None:
        value = value_ev(row, scope)
        return None if value is None else round(value, int(digits_ev(row, scope) or 0))

    return Node("number", evaluate)


def _type_arg(name: str, node: Node) -> str:
    if not (node.const and isinstance(node.value, str) and node.value):
        raise QueryError(f"Другий аргумент {name}() має бути іменем типу в лапках", "21")
    return node.value


def _cast(name: str, args: list[Node]) -> Node:
    _arity(name, args, 2, 2)
    type_name = _type_arg(name, args[1])
    ev = args[0].ev
    if type_name.startswith("Edm."):
        converters: dict[str, Callable[[Any], Any]] = {"Edm.String": str, "Edm.Double": float,
                                                       "Edm.Int64": int}
        if type_name not in converters:
            raise QueryError(f"Приведення до {type_name} не підтримується", "21")
        convert = converters[type_name]
        result_type = "string" if type_name == "Edm.String" else "number"
        return Node(result_type, lambda row, scope: (
            None if (v := ev(row, scope)) is None else convert(v)))
    _want(name, args[0], "guid")
    full = type_name if type_name.startswith(f"{NAMESPACE}.") else f"{NAMESPACE}.{type_name}"
    if args[0].const:
        value = TypedValue(args[0].value, full)
        return Node("typed", lambda row, scope: value, const=True, value=value)
    return Node("typed", lambda row, scope: (
        None if (v := ev(row, scope)) is None else TypedValue(v, full)))


def _isof(name: str, args: list[Node]) -> Node:
    if len(args) != 2:
        raise QueryError("isof() потребує властивість і ім'я типу", "21")
    _want(name, args[0], "typed")
    type_name = _type_arg(name, args[1])
    full = type_name if type_name.startswith(f"{NAMESPACE}.") or type_name.startswith("Edm.") \
        else f"{NAMESPACE}.{type_name}"
    ev = args[0].ev

    def evaluate(row: dict, scope: Scope) -> bool:
        value = ev(row, scope)
        return isinstance(value, TypedValue) and value.type_name == full

    return Node("bool", evaluate)


_FUNCTIONS: dict[str, Callable[[str, list[Node]], Node]] = {
    "substringof": _string_predicate,
    "startswith": _string_predicate,
    "endswith": _string_predicate,
    "like": _like,
    "substring": _substring,
    "concat": _concat,
    **{part: _date_part for part in _DATE_PARTS},
    "dateadd": _dateadd,
    "datedifference": _datedifference,
    "round": _round,
    "cast": _cast,
    "isof": _isof,
}


# --- entry points -----------------------------------------------------------------------------


def compile_filter(text: str, shape: Shape, resolver: Resolver | None = None) -> Compiled:
    """Compile a ``$filter`` (or a virtual table's ``Condition``). Raises QueryError."""
    if not text.strip():
        return Compiled(lambda row: True, ())
    node = _Parser(text, shape, resolver).whole()
    if node.type not in ("bool", "any"):
        raise QueryError("Вираз $filter має бути логічним")
    ev = node.ev

    def predicate(row: dict) -> bool:
        return bool(ev(row, {}))

    return Compiled(predicate, node.hints)


def compile_orderby(text: str, shape: Shape,
                    resolver: Resolver | None = None) -> list[tuple[Evaluator, bool]]:
    """``$orderby``: a list of (value getter, descending)."""
    parser = _Parser(text, shape, resolver)
    items: list[tuple[Evaluator, bool]] = []
    while True:
        node = parser.additive()
        direction = parser.at_word("asc", "desc")
        if direction:
            parser.advance()
        items.append((node.ev, direction == "desc"))
        if parser.at_punct(","):
            parser.advance()
            continue
        if parser.at_end():
            return items
        raise parser.trailing()


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, TypedValue):
        return (1, f"{value.type_name}|{value.value}")
    return (1, value)


def sort_rows(rows: list[dict], order: list[tuple[Evaluator, bool]]) -> None:
    """Sort in place; stable, so earlier keys win (applied last)."""
    for ev, descending in reversed(order):
        rows.sort(key=lambda row, ev=ev: _sort_key(ev(row, {})), reverse=descending)


def parse_key(text: str) -> list[tuple[str | None, Any]]:
    """An entity key: ``guid'…'`` or ``Name=literal,Name2=literal``. Raises QueryError."""
    tokens = tokenize(text)
    parts: list[tuple[str | None, Any]] = []
    i = 0
    while tokens[i].kind != "end":
        name = None
        following = tokens[i + 1]
        if tokens[i].kind == "name" and following.kind == "punct" and following.value == "=":
            name = tokens[i].value
            i += 2
        if tokens[i].kind != "lit":
            raise QueryError(f"Неправильний ключ сутності: {text}", "6")
        parts.append((name, tokens[i].value))
        i += 1
        if tokens[i].kind == "punct" and tokens[i].value == ",":
            i += 1
        elif tokens[i].kind != "end":
            raise QueryError(f"Неправильний ключ сутності: {text}", "6")
    return parts


_PARAM_NAME = re.compile(r"\s*(\w+)\s*=\s*")
_PARAM_END = re.compile(r"\s*,\s*\w+\s*=")


def split_params(text: str) -> dict[str, str]:
    """``Period=datetime'…',Condition='…'`` → raw (still quoted) values by name.

    A string value ends at the first quote followed by the end or by ``,Name=``, so both the
    doubled (``guid''…''``) and the raw (``guid'…'``) inner quoting of a Condition survive
    (bas-odata.md §6 says both are seen in the wild)."""
    params: dict[str, str] = {}
    i = 0
    while i < len(text):
        match = _PARAM_NAME.match(text, i)
        if not match:
            raise QueryError(f"Неправильні параметри функції: {text}", "6")
        name, i = match.group(1), match.end()
        start = i
        if text.startswith("'", i):
            j = i + 1
            while j < len(text):
                if text[j] == "'" and (j + 1 == len(text) or _PARAM_END.match(text, j + 1)):
                    break
                j += 1
            else:
                raise QueryError(f"Незакритий рядок у параметрі {name}", "6")
            i = j + 1
        else:
            end = text.find(",", i)
            quote = text.find("'", i)
            if quote != -1 and (end == -1 or quote < end):  # guid'…' / datetime'…'
                close = text.find("'", quote + 1)
                end = text.find(",", close) if close != -1 else -1
            i = len(text) if end == -1 else end
        params[name] = text[start:i].strip()
        comma = re.compile(r"\s*,?").match(text, i)
        i = comma.end() if comma else i
    return params


def string_param_variants(raw: str) -> list[str]:
    """A quoted string parameter's possible contents: quotes undoubled first, then as sent."""
    raw = raw.strip()
    if len(raw) < 2 or raw[0] != "'" or raw[-1] != "'":
        raise QueryError(f"Параметр має бути рядком у лапках: {raw}", "6")
    inner = raw[1:-1]
    undoubled = inner.replace("''", "'")
    return [undoubled] if undoubled == inner else [undoubled, inner]


def parse_literal(raw: str) -> Any:
    """One literal (a function parameter that is not a string)."""
    tokens = tokenize(raw)
    if len(tokens) != 2 or tokens[0].kind != "lit":
        raise QueryError(f"Неправильне значення параметра: {raw}", "6")
    return tokens[0].value
