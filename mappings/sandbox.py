"""The expression language of mappings: a small, safe subset of Python, run by our own interpreter.

The product we replace lets integrators run arbitrary 1C code to compute a field. We let them
write a Python-looking expression (``concat(order.buyer.full_name, order.buyer.phone,
sep=", ")``) or a short script (``for line in lines: line["Ціна"] = line["Ціна"] * 1.2``), and
run it with a tree-walking interpreter over a whitelisted ``ast``. User code is never given to
``eval``, ``exec`` or ``compile``, and it never reaches a Python attribute: ``order.buyer`` is
the key ``"buyer"`` of the dict ``order`` and nothing else.

What keeps a hostile or careless mapping harmless:

* Compile time refuses everything outside the whitelist, naming the construct (``import``,
  ``lambda``, ``while``, method calls, names and keys starting with ``_``, ...), and trees nested
  deeper than ``Limits.max_depth``.
* Only the functions in ``FUNCTIONS`` can be called, by plain name. Python built-ins are not
  reachable: a name resolves to one of the caller's variables or it is an error.
* Every node evaluated and every loop or comprehension iteration is a step; too many steps or
  too much wall-clock time stops the run with ``ExpressionTimeout``.
* Nothing big is built: ``**`` and ``<<`` are checked before they run, text and list sizes are
  checked before repetition, concatenation, ``replace`` or ``join``, and every value a step
  produces is checked against ``Limits``. A single run may also not produce more than
  ``_TOTAL_FACTOR`` times the per-step limits in total, so garbage cannot pile up in a loop.
* Comparisons, ``in`` and hashing walk nested lists, which can be made exponentially "large" by
  sharing (``[[big] * 10_000] * 10_000``); such values are measured first and refused past
  ``_TRAVERSAL_FACTOR * max_collection`` elements, so one step cannot hang.
* ``Script.run`` works on a deep copy of the caller's variables: a script that fails halfway
  leaves nothing half-changed.

Decisions a reader may look for:

* f-strings: ``{x}`` and ``{x!s}`` only. ``!r`` and ``!a`` are refused (``repr`` of nested
  lists is the traversal bomb above). A format spec must be a fixed number format without a
  width: ``{price:.2f}``, ``{total:,.2f}``, ``{share:.1%}``; nested ``{}`` inside a spec is refused.
* ``None`` turns into empty text in f-strings, ``str()``, ``join`` and ``concat``, as 1C's
  ``Строка(Неопределено)`` does: a missing buyer gives ``"від "``, not ``"від None"``.
* Numbers: ``Decimal`` and ``float`` may be mixed; the float is taken as written (``0.1`` is
  ``Decimal("0.1")``) and the result is a ``Decimal``. ``round`` rounds half away from zero on
  the number as written (2.675 → 2.68), as accountants and 1C's ``Окр`` do.
* Looking anything up in ``None`` gives ``None`` (``order.marketing.utm_campaign`` on an order
  without marketing); looping over ``None`` is an error, because it usually means a missing
  ``include``.
* Sets are looped over in sorted order, so a mapping gives the same result in every process.
* Generator expressions are evaluated eagerly into a list (bounded like any other list).
* Scripts may also use ``break`` and ``continue`` inside ``for``.
* There is no ``now()``/``today()``: a mapping gives the same document for the same order.
"""

from __future__ import annotations

import ast
import contextvars
import copy
import datetime as dt
import decimal
import inspect
import math
import operator
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, NoReturn

from django.utils.translation import gettext, gettext_noop

from mappings.engine.normalize import normalize_phone

__all__ = [
    "FUNCTIONS",
    "Expression",
    "ExpressionError",
    "ExpressionTimeout",
    "Limits",
    "Script",
    "compile_expression",
    "compile_script",
]


class ExpressionError(Exception):
    """Refused or failed expression/script.

    ``str(e)`` is a sentence an integrator understands, naming what is not allowed and where
    (line/column when known). ``message`` is the same sentence without the location.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,), {"line": self.line, "column": self.column})

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        where = gettext("line %(line)d") % {"line": self.line} if self.column is None else \
            gettext("line %(line)d, column %(column)d") % {"line": self.line,
                                                           "column": self.column}
        return f"{self.message} ({where})"


class ExpressionTimeout(ExpressionError):
    """The time or step limit was hit."""


@dataclass(frozen=True)
class Limits:
    time_limit: float = 0.05  # seconds of wall clock per evaluation
    step_limit: int = 100_000  # interpreter steps (node evaluations, loop iterations)
    max_string: int = 100_000  # longest string a step may produce
    max_collection: int = 10_000  # longest list/dict/tuple a step may produce
    max_int_bits: int = 256  # bigger integers are refused (so 9**9**9 cannot happen)
    max_depth: int = 50  # nesting of the expression tree / recursion

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ValueError("time_limit must be positive")
        for name in ("step_limit", "max_string", "max_collection", "max_int_bits", "max_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        # The interpreter recurses once or twice per level; past this, Python's own stack is
        # the limit, and Python's parser refuses 200 nested brackets anyway.
        if self.max_depth > _MAX_DEPTH_CEILING:
            raise ValueError(f"max_depth cannot exceed {_MAX_DEPTH_CEILING}")


_MAX_DEPTH_CEILING = 200
DEFAULT_LIMITS = Limits()
# Longest source accepted; a field mapping is a line, a script a screen or two.
MAX_SOURCE_LENGTH = 20_000
# A run may produce at most this many times max_string characters (max_collection elements)
# over all its steps: bounds the memory a loop can fill before the clock stops it.
_TOTAL_FACTOR = 100
# Comparing, hashing or searching nested values may walk at most this many times
# max_collection elements.
_TRAVERSAL_FACTOR = 10
# The clock is read every 16 steps (steps & 15 == 0): a step is bounded (sizes are checked
# before anything big is built), so 16 of them stay far below a millisecond or so.
_CLOCK_MASK = 15

# Python built-ins that people try; named in the error so the refusal is clear.
DENIED_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals",
    "locals", "vars", "dir", "type", "object", "__import__", "__builtins__", "breakpoint",
    "input", "help", "memoryview", "bytearray", "bytes", "super", "property", "classmethod",
    "staticmethod", "id", "hash", "iter", "next", "format", "print", "exit", "quit",
    "isinstance", "issubclass", "callable", "repr", "ascii", "chr", "ord", "map", "filter",
    "zip", "reversed", "slice", "frozenset", "set", "dict", "tuple", "pow", "divmod", "os",
    "sys", "subprocess", "builtins", "importlib",
})

_SCALARS = (type(None), bool, int, float, Decimal, str, dt.date)  # dt.datetime is a dt.date
_NESTED = (list, tuple, dict, set, frozenset)
_PLAIN = (*_SCALARS, *_NESTED, range)
_NUMBERS = (int, float, Decimal)  # bool is an int
# Exact types of plain values that hold nothing further, for a fast check of a whole list.
_FLAT_TYPES = frozenset({type(None), bool, int, float, Decimal, str, dt.date, dt.datetime, range})


# --- helpers that do not need a run --------------------------------------------------------
def _kind(value: Any) -> str:
    """How a value is called in messages."""
    if value is None:
        return gettext("None (no value)")
    if isinstance(value, bool):
        return gettext("True/False")
    if isinstance(value, int):
        return gettext("a whole number")
    if isinstance(value, (float, Decimal)):
        return gettext("a number")
    if isinstance(value, str):
        return gettext("text")
    if isinstance(value, dt.datetime):
        return gettext("a date and time")
    if isinstance(value, dt.date):
        return gettext("a date")
    if isinstance(value, dict):
        return gettext("a dict of fields")
    if isinstance(value, list):
        return gettext("a list")
    if isinstance(value, tuple):
        return gettext("a tuple")
    if isinstance(value, (set, frozenset)):
        return gettext("a set")
    if isinstance(value, range):
        return gettext("a range")
    return gettext("a Python %(type)s") % {"type": type(value).__name__}


def _collection(value: Any) -> str:
    """A nested value's name as in "The list would have …"."""
    if isinstance(value, dict):
        return gettext("dict of fields")
    if isinstance(value, tuple):
        return gettext("tuple")
    if isinstance(value, (set, frozenset)):
        return gettext("set")
    return gettext("list")


# What messages call a value or a place. The hot path passes these msgids (and a name) as
# they are; they are translated only when a message is made.
_THE_VARIABLE = gettext_noop("The variable '%(name)s'")
_THE_FIELD = gettext_noop("The field '%(name)s'")
_THE_KEY = gettext_noop("The key %(name)r")
_LOOKED_UP_IN = gettext_noop("looked up in %(kind)s")
_NAMED_IN_MESSAGES = (
    gettext_noop("The list"), gettext_noop("The field"), gettext_noop("The custom field"),
    gettext_noop("The comprehension"), gettext_noop("The for loop"), gettext_noop("in a set"),
    gettext_noop("a dict key"), gettext_noop("expression"), gettext_noop("script"),
)


def _place(where: str, container: Any) -> str:
    """``where`` a key or set member was to go, in words."""
    return gettext(where) if container is None else gettext(where) % {"kind": _kind(container)}


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


def _float_to_decimal(value: float) -> Decimal:
    # repr() is the shortest text that reads back as the same float: 0.1 -> Decimal("0.1").
    return Decimal(repr(value))


def _mixed(left: Any, right: Any) -> tuple[Any, Any]:
    """Decimal with float: the float becomes the Decimal it was written as."""
    if isinstance(left, Decimal) and isinstance(right, float):
        return left, _float_to_decimal(right)
    if isinstance(left, float) and isinstance(right, Decimal):
        return _float_to_decimal(left), right
    return left, right


_DECIMAL_CONTEXT = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


# --- the run: limits, counters, scopes -----------------------------------------------------
_CURRENT: contextvars.ContextVar[_Run | None] = contextvars.ContextVar(
    "mappings_sandbox_run", default=None
)


def _current_run() -> _Run:
    """The run a function is called from, or a fresh one with default limits (admin, tests)."""
    run = _CURRENT.get()
    return run if run is not None else _Run(DEFAULT_LIMITS, "expression", (), {})


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Run:
    """One evaluation: its limits, counters and variables. Never shared between evaluations."""

    def __init__(
        self, limits: Limits, kind: str, lines: tuple[str, ...], variables: Mapping[str, Any]
    ):
        self.limits = limits
        self.step_limit = limits.step_limit  # read on every step
        self.max_int_bits = limits.max_int_bits
        self.max_depth = limits.max_depth
        self.kind = kind
        self.lines = lines
        self.steps = 0
        self.depth = 0
        self.chars = 0
        self.elements = 0
        self.deadline = time.perf_counter() + limits.time_limit
        self.scopes: list[Mapping[str, Any]] = [variables]

    # -- entry point ------------------------------------------------------------------------
    def start(self, work: Callable[[], Any]) -> Any:
        token = _CURRENT.set(self)
        try:
            with decimal.localcontext(_DECIMAL_CONTEXT):
                return work()
        except RecursionError:
            raise ExpressionError(gettext(
                "The %(kind)s is nested too deeply") % {
                "kind": gettext(self.kind)}) from None
        except MemoryError:
            raise ExpressionError(gettext(
                "The %(kind)s needs too much memory") % {
                "kind": gettext(self.kind)}) from None
        # The queue boundary of the interpreter: every refusal we foresee is an
        # ExpressionError already; a Python error that slips through still reaches the
        # integrator as one, never as a traceback.
        except (TypeError, ValueError, ArithmeticError, LookupError, RuntimeError) as exc:
            raise ExpressionError(gettext(
                "The %(kind)s failed: %(error)s") % {
                "kind": gettext(self.kind), "error": exc}) from None
        finally:
            _CURRENT.reset(token)

    # -- limits -----------------------------------------------------------------------------
    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.step_limit or not self.steps & _CLOCK_MASK:
            self.check_limits()

    def check_limits(self) -> None:
        if self.steps > self.step_limit:
            raise ExpressionTimeout(
                gettext(
                    "The %(kind)s was stopped: it took more than %(limit)s steps") % {
                    "kind": gettext(self.kind), "limit": self.step_limit}
            )
        self.check_clock()

    def check_clock(self) -> None:
        if time.perf_counter() > self.deadline:
            raise ExpressionTimeout(
                gettext(
                    "The %(kind)s was stopped: it took longer than %(limit)s ms") % {
                    "kind": gettext(self.kind),
                    "limit": format(self.limits.time_limit * 1000, "g")}
            )

    def produced(self, value: Any) -> Any:
        """Check a value a step has made against the limits; return it."""
        kind = type(value)
        if kind is int:
            if value.bit_length() > self.max_int_bits:
                self.check_int(value)
            return value
        if kind is float:
            if not math.isfinite(value):
                raise ExpressionError(gettext("The number is too big (or not a number)"))
            return value
        limits = self.limits
        if isinstance(value, str):
            if len(value) > limits.max_string:
                raise ExpressionError(
                    gettext(
                        "The text would be %(count)s characters long; the limit is "
                        "%(limit)s") % {
                        "count": len(value), "limit": limits.max_string}
                )
            self.chars += len(value)
            if self.chars > limits.max_string * _TOTAL_FACTOR:
                raise ExpressionError(
                    gettext(
                        "The %(kind)s produced more than %(limit)s characters of text in "
                        "total") % {
                        "kind": gettext(self.kind), "limit": limits.max_string * _TOTAL_FACTOR}
                )
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            self.check_int(value)
        elif isinstance(value, (float, Decimal)):
            if not math.isfinite(value):
                raise ExpressionError(gettext("The number is too big (or not a number)"))
        elif isinstance(value, _NESTED):
            if len(value) > limits.max_collection:
                raise ExpressionError(
                    gettext(
                        "The %(value)s would have %(count)s items; the limit is %(limit)s") % {
                        "value": _collection(value), "count": len(value),
                        "limit": limits.max_collection}
                )
            self.elements += len(value)
            if self.elements > limits.max_collection * _TOTAL_FACTOR:
                raise ExpressionError(
                    gettext(
                        "The %(kind)s produced more than %(limit)s list items in total") % {
                        "kind": gettext(self.kind),
                        "limit": limits.max_collection * _TOTAL_FACTOR}
                )
        elif isinstance(value, (range, dt.date)):
            pass
        elif isinstance(value, complex):
            raise ExpressionError(gettext("The result is not a real number"))
        else:
            raise ExpressionError(
                gettext(
                    "The result would be %(value)s, which mappings cannot use") % {
                    "value": _kind(value)}
            )
        return value

    def check_int(self, value: int) -> None:
        if value.bit_length() > self.max_int_bits:
            raise ExpressionError(
                gettext(
                    "The number is too big (more than %(limit)s bits)") % {
                    "limit": self.limits.max_int_bits}
            )

    def measure(self, value: Any) -> None:
        """Refuse a nested value too large to compare, hash or search in one step."""
        if not isinstance(value, _NESTED):
            return
        budget = self.limits.max_collection * _TRAVERSAL_FACTOR
        count = 0
        stack = [value]
        while stack:
            current = stack.pop()
            children = (
                [*current.keys(), *current.values()] if isinstance(current, dict) else current
            )
            count += len(children)
            if count > budget:
                raise ExpressionError(
                    gettext(
                        "The value is too large to compare or search (more than "
                        "%(count)s values inside)") % {
                        "count": budget}
                )
            if set(map(type, children)) <= _FLAT_TYPES:  # the usual case, checked in C
                continue
            for child in children:
                if isinstance(child, _NESTED):
                    stack.append(child)
                elif not isinstance(child, _PLAIN):
                    raise ExpressionError(
                        gettext(
                            "A list or dict holds %(child)s, which mappings cannot use") % {
                            "child": _kind(child)}
                    )
        if count > 1000:
            self.check_clock()

    def hashable(self, value: Any, where: str, container: Any = None) -> Any:
        """``value`` if it can be a key or a set member. ``where`` says where it was to go (a
        msgid; ``%(kind)s`` in it names ``container``)."""
        if isinstance(value, (list, dict, set)):
            raise ExpressionError(gettext(
                "%(value)s cannot be %(where)s") % {
                "value": _kind(value).capitalize(), "where": _place(where, container)})
        if isinstance(value, (tuple, frozenset)):
            self.measure(value)
            try:
                hash(value)
            except TypeError:
                raise ExpressionError(
                    gettext(
                        "A tuple holding a list or dict cannot be %(where)s") % {
                        "where": _place(where, container)}
                ) from None
        return value

    @staticmethod
    def entry(value: Any, what: str, name: Any = None) -> Any:
        """A value read from the caller's data must be plain data. ``what`` names it in the
        message (a msgid; ``%(name)s`` in it is ``name``)."""
        if isinstance(value, _PLAIN):
            return value
        subject = gettext(what) if name is None else gettext(what) % {"name": name}
        raise ExpressionError(gettext(
            "%(what)s holds %(value)s, which mappings cannot use") % {
            "what": subject, "value": _kind(value)})

    # -- iteration --------------------------------------------------------------------------
    def items(self, value: Any, what: str) -> Iterator[Any]:
        """The elements of a list-like value, one step each; dict keys; sets sorted."""
        if isinstance(value, (list, tuple, str, range)):
            sequence: Any = value
        elif isinstance(value, dict):
            sequence = list(value)  # a snapshot: the loop body may add keys
        elif isinstance(value, (set, frozenset)):
            self.measure(value)
            try:
                sequence = sorted(value)
            except TypeError:
                raise ExpressionError(
                    gettext(
                        "%(what)s cannot go through a set of mixed values in a fixed "
                        "order; use a list") % {
                        "what": gettext(what)}
                ) from None
        elif value is None:
            raise ExpressionError(gettext(
                "%(what)s cannot go through None (is the field missing?)") % {
                "what": gettext(what)})
        else:
            raise ExpressionError(gettext(
                "%(what)s needs a list, not %(value)s") % {
                "what": gettext(what), "value": _kind(value)})
        for item in sequence:
            self.tick()
            yield self.entry(item, "The list")

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return self.entry(scope[name], _THE_VARIABLE, name)
        if name in DENIED_NAMES:
            raise ExpressionError(
                gettext(
                    "'%(function)s' is a Python built-in and is not available in mappings") % {
                    "function": name}
            )
        known = sorted(k for k in self.scopes[0] if isinstance(k, str))
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        if known:
            raise ExpressionError(gettext(
                "Unknown name '%(name)s'; the variables here are: %(names)s") % {
                "name": name, "names": listed})
        raise ExpressionError(gettext("Unknown name '%(name)s'") % {"name": name})

    # -- evaluation -------------------------------------------------------------------------
    def value_of(self, node: ast.expr) -> Any:
        self.steps += 1  # tick(), inlined: this is the interpreter's hot path
        if self.steps > self.step_limit or not self.steps & _CLOCK_MASK:
            self.check_limits()
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                raise ExpressionError(
                    gettext(
                        "The %(kind)s is nested too deeply (more than %(limit)s levels)") % {
                        "kind": gettext(self.kind), "limit": self.limits.max_depth}
                )
            return _EXPRESSIONS[type(node)](self, node)
        except ExpressionError as exc:
            if exc.line is None:
                _locate(exc, node, self.lines)
            raise
        finally:
            self.depth -= 1

    def constant(self, node: ast.Constant) -> Any:
        value = node.value
        if type(value) is int and value.bit_length() > self.max_int_bits:
            self.check_int(value)
        return value

    def name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def attribute(self, node: ast.Attribute) -> Any:
        target = self.value_of(node.value)
        if target is None:
            return None
        if isinstance(target, dict):
            return self.entry(dict.get(target, node.attr), _THE_FIELD, node.attr)
        raise ExpressionError(
            gettext(
                "Attribute access is only for fields of the order: '.%(attr)s' was used "
                "on %(target)s") % {
                "attr": node.attr, "target": _kind(target)}
        )

    def subscript(self, node: ast.Subscript) -> Any:
        target = self.value_of(node.value)
        if isinstance(node.slice, ast.Slice):
            return self.sliced(target, node.slice)
        key = self.value_of(node.slice)
        if target is None:
            return None
        if isinstance(target, dict):
            _check_key(key)
            return self.entry(dict.get(target, key), _THE_KEY, _short(key))
        if isinstance(target, (list, tuple, str, range)):
            if not isinstance(key, int):
                raise ExpressionError(
                    gettext(
                        "%(target)s is indexed by a whole number, not by %(key)s") % {
                        "target": _kind(target).capitalize(), "key": _kind(key)}
                )
            try:
                return self.entry(target[key], "The list")
            except IndexError:
                raise ExpressionError(
                    gettext(
                        "Index %(key)s is out of range for %(target)s of %(count)s items") % {
                        "key": key, "target": _kind(target), "count": len(target)}
                ) from None
        raise ExpressionError(gettext(
            "Cannot look up [%(value)s] in %(target)s") % {
            "value": _short(key), "target": _kind(target)})

    def sliced(self, target: Any, node: ast.Slice) -> Any:
        bounds = []
        for part in (node.lower, node.upper, node.step):
            value = None if part is None else self.value_of(part)
            if value is not None and not isinstance(value, int):
                raise ExpressionError(gettext(
                    "Slice bounds must be whole numbers, not %(value)s") % {
                    "value": _kind(value)})
            bounds.append(value)
        if target is None:
            return None
        if not isinstance(target, (list, tuple, str, range)):
            raise ExpressionError(gettext(
                "Cannot take a slice of %(target)s") % {
                "target": _kind(target)})
        if bounds[2] == 0:
            raise ExpressionError(gettext("The step of a slice cannot be zero"))
        return self.produced(target[slice(*bounds)])

    def binop(self, node: ast.BinOp) -> Any:
        left = self.value_of(node.left)
        right = self.value_of(node.right)
        return self.arithmetic(type(node.op), left, right)

    def arithmetic(self, op: type, left: Any, right: Any) -> Any:
        kind = type(left)
        if kind is type(right) and op in _SIMPLE and (kind is int or kind is float):
            # The common case, kept fast: + - * of two ints or two floats cannot fail or
            # grow past what produced() checks.
            return self.produced(_SIMPLE[op](left, right))
        verb, function = _BINARY[op]
        left, right = _mixed(left, right)
        self.precheck(op, left, right)
        try:
            result = function(left, right)
        except ZeroDivisionError:
            raise ExpressionError(gettext("Division by zero")) from None
        except (OverflowError, decimal.Overflow):
            raise ExpressionError(gettext("The number is too big")) from None
        except ArithmeticError:
            raise ExpressionError(gettext(
                "Cannot %(verb)s these numbers (the result is undefined)") % {
                "verb": gettext(verb)}) \
                from None
        except TypeError:
            raise ExpressionError(gettext(
                "Cannot %(verb)s %(left)s and %(right)s") % {
                "verb": gettext(verb), "left": _kind(left), "right": _kind(right)}) from None
        except ValueError as exc:
            raise ExpressionError(gettext(
                "Cannot %(verb)s: %(error)s") % {
                "verb": gettext(verb), "error": exc}) from None
        return self.produced(result)

    def precheck(self, op: type, left: Any, right: Any) -> None:
        """Refuse what would be too big before Python builds it."""
        both_ints = isinstance(left, int) and isinstance(right, int)
        if op is ast.Pow and _is_number(left) and _is_number(right):
            if abs(right) > 1000:
                raise ExpressionError(gettext(
                    "The exponent of ** is too big (%(value)s > 1000)") % {
                    "value": _short(right)})
            # (bits - 1) * exponent is a lower bound of the result's size.
            if both_ints and right > 0:
                self.refuse_bits((abs(left).bit_length() - 1) * right)
        elif op is ast.LShift and both_ints and right > 0:
            self.refuse_bits(abs(left).bit_length() + right)
        elif op is ast.Mult and not both_ints:
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(count, int) and isinstance(sequence, (str, list, tuple)):
                self.refuse_size(sequence, len(sequence) * max(count, 0))
        elif op is ast.Add and (
            (isinstance(left, str) and isinstance(right, str))
            or (isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)))
        ):
            self.refuse_size(left, len(left) + len(right))
        elif op is ast.Mod and isinstance(left, str):
            raise ExpressionError(gettext(
                "Formatting text with %(operator)s is not allowed; use an f-string or "
                "concat()") % {"operator": "%"})
        if op in _INT_ONLY:
            sets = op not in (ast.LShift, ast.RShift) and isinstance(left, (set, frozenset)) \
                and isinstance(right, (set, frozenset))
            if not (both_ints or sets):
                raise ExpressionError(gettext(
                    "Cannot %(verb)s %(left)s and %(right)s") % {
                    "verb": gettext(_BINARY[op][0]), "left": _kind(left),
                    "right": _kind(right)})

    def refuse_bits(self, bits: int) -> None:
        if bits > self.limits.max_int_bits:
            raise ExpressionError(
                gettext(
                    "The number is too big (more than %(limit)s bits)") % {
                    "limit": self.limits.max_int_bits}
            )

    def refuse_size(self, sample: Any, size: int) -> None:
        """Refuse a text (list) of ``size`` characters (items) before it is built."""
        if isinstance(sample, str):
            if size > self.limits.max_string:
                raise ExpressionError(
                    gettext(
                        "The text would be %(size)s characters long; the limit is "
                        "%(limit)s") % {
                        "size": size, "limit": self.limits.max_string}
                )
        elif size > self.limits.max_collection:
            raise ExpressionError(
                gettext(
                    "The %(value)s would have %(size)s items; the limit is %(limit)s") % {
                    "value": _collection(sample), "size": size,
                    "limit": self.limits.max_collection}
            )

    def unaryop(self, node: ast.UnaryOp) -> Any:
        value = self.value_of(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.Invert):
            if not isinstance(value, int):
                raise ExpressionError(gettext(
                    "Cannot apply ~ to %(value)s") % {
                    "value": _kind(value)})
            return ~value
        if not _is_number(value):
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            raise ExpressionError(gettext(
                "Cannot apply %(sign)s to %(value)s") % {
                "sign": sign, "value": _kind(value)})
        return -value if isinstance(node.op, ast.USub) else +value

    def boolop(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.value_of(operand)
            if bool(value) is not is_and:
                return value
        return value

    def compare(self, node: ast.Compare) -> bool:
        left = self.value_of(node.left)
        for op, operand in zip(node.ops, node.comparators, strict=True):
            right = self.value_of(operand)
            if not self.compare_pair(type(op), left, right):
                return False
            left = right
        return True

    def compare_pair(self, op: type, left: Any, right: Any) -> bool:
        if op is ast.In:
            return self.contains(right, left)
        if op is ast.NotIn:
            return not self.contains(right, left)
        if op is ast.Is:
            return left is right
        if op is ast.IsNot:
            return left is not right
        if isinstance(left, _NESTED) and isinstance(right, _NESTED):
            self.measure(left)
            self.measure(right)
        try:
            return bool(_COMPARISONS[op](left, right))
        except TypeError:
            if isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
                raise ExpressionError(
                    gettext("Cannot compare a date and time with a time zone (ending in Z or "
                            "+02:00) with one without")
                ) from None
            raise ExpressionError(gettext(
                "Cannot compare %(left)s with %(right)s") % {
                "left": _kind(left), "right": _kind(right)}) from None

    def contains(self, container: Any, item: Any) -> bool:
        if isinstance(container, str):
            if not isinstance(item, str):
                raise ExpressionError(
                    gettext(
                        "To look for something in text, it must be text too, not %(item)s") % {
                        "item": _kind(item)}
                )
            return item in container
        if isinstance(container, (dict, set, frozenset)):
            self.hashable(item, _LOOKED_UP_IN, container)
            return item in container
        if isinstance(container, (list, tuple, range)):
            if isinstance(item, _NESTED):
                self.measure(container)
            return item in container
        if container is None:
            raise ExpressionError(gettext(
                "Cannot look for a value in None (is the field missing?)"))
        raise ExpressionError(gettext(
            "'in' needs text, a list or a dict, not %(container)s") % {
            "container": _kind(container)})

    def ifexp(self, node: ast.IfExp) -> Any:
        return self.value_of(node.body) if self.value_of(node.test) else self.value_of(node.orelse)

    def call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined] - checked when compiled
        function = _SPECS[name]
        args = [self.value_of(arg) for arg in node.args]
        kwargs = {kw.arg: self.value_of(kw.value) for kw in node.keywords}
        try:
            result = function(*args, **kwargs)
        except ExpressionError:
            raise
        except ZeroDivisionError:
            raise ExpressionError(gettext(
                "%(function)s(): division by zero") % {
                "function": name}) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise ExpressionError(gettext(
                "%(function)s() failed: %(error)s") % {
                "function": name, "error": exc}) from None
        return self.produced(result)

    def list_display(self, node: ast.List | ast.Tuple) -> Any:
        values = [self.value_of(element) for element in node.elts]
        return self.produced(values if isinstance(node, ast.List) else tuple(values))

    def set_display(self, node: ast.Set) -> Any:
        return self.produced(
            {self.hashable(self.value_of(element), "in a set") for element in node.elts}
        )

    def dict_display(self, node: ast.Dict) -> Any:
        result = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            key = self.hashable(self.value_of(key_node), "a dict key")  # type: ignore[arg-type]
            result[key] = self.value_of(value_node)
        return self.produced(result)

    def joined_str(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        total = 0
        for value in node.values:
            text = value.value if isinstance(value, ast.Constant) else self.value_of(value)
            total += len(text)
            if total > self.limits.max_string:
                raise ExpressionError(
                    gettext(
                        "The text would be more than %(limit)s characters long") % {
                        "limit": self.limits.max_string}
                )
            parts.append(text)
        return self.produced("".join(parts))

    def formatted_value(self, node: ast.FormattedValue) -> str:
        value = self.value_of(node.value)
        spec = node.format_spec
        if spec is None or not spec.values:
            return _text(value, self)
        pattern = spec.values[0].value  # type: ignore[attr-defined] - checked when compiled
        if not _is_number(value):
            raise ExpressionError(
                gettext(
                    "The format :%(pattern)s is only for numbers, not for %(value)s") % {
                    "pattern": pattern, "value": _kind(value)}
            )
        if isinstance(value, int):
            self.check_int(value)
        elif isinstance(value, Decimal) and abs(value.adjusted()) > 1000:
            raise ExpressionError(gettext("The number is too big to format"))
        try:
            return format(value, pattern)
        except ValueError:
            raise ExpressionError(
                gettext(
                    "Cannot format %(value)s with :%(pattern)s") % {
                    "value": _kind(value), "pattern": pattern}
            ) from None

    def comprehension(self, node: Any) -> Any:
        result: Any
        if isinstance(node, ast.DictComp):
            result = {}
        elif isinstance(node, ast.SetComp):
            result = set()
        else:
            result = []
        cap = self.limits.max_collection

        def emit() -> None:
            if len(result) >= cap:
                raise ExpressionError(gettext(
                    "The comprehension would have more than %(limit)s items") % {
                    "limit": cap})
            if isinstance(node, ast.DictComp):
                key = self.hashable(self.value_of(node.key), "a dict key")
                result[key] = self.value_of(node.value)
            elif isinstance(node, ast.SetComp):
                result.add(self.hashable(self.value_of(node.elt), "in a set"))
            else:
                result.append(self.value_of(node.elt))

        scope: dict[str, Any] = {}
        self.scopes.append(scope)
        try:
            self.generate(node.generators, 0, scope, emit)
        finally:
            self.scopes.pop()
        return self.produced(result)

    def generate(
        self, generators: list[ast.comprehension], index: int, scope: dict[str, Any],
        emit: Callable[[], None],
    ) -> None:
        generator = generators[index]
        source = self.value_of(generator.iter)
        last = index + 1 == len(generators)
        for item in self.items(source, "The comprehension"):
            _bind(generator.target, item, scope)
            for condition in generator.ifs:
                if not self.value_of(condition):
                    break
            else:
                if last:
                    emit()
                else:
                    self.generate(generators, index + 1, scope, emit)

    # -- statements -------------------------------------------------------------------------
    def execute(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        self.tick()
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise ExpressionError(
                    gettext(
                        "The script is nested too deeply (more than %(limit)s levels)") % {
                        "limit": self.limits.max_depth}
                )
            _STATEMENTS[type(node)](self, node)
        except ExpressionError as exc:
            if exc.line is None:
                _locate(exc, node, self.lines)
            raise
        finally:
            self.depth -= 1

    def assign(self, node: ast.Assign) -> None:
        value = self.value_of(node.value)
        for target in node.targets:
            self.store(target, value)

    def augassign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self.lookup(target.id)
            self.scopes[0][target.id] = self.arithmetic(  # type: ignore[index]
                type(node.op), current, self.value_of(node.value)
            )
            return
        container, key = self.place(target)
        current = self.entry(
            dict.get(container, key) if isinstance(container, dict) else container[key],
            "The field",
        )
        self.put(container, key, self.arithmetic(type(node.op), current, self.value_of(node.value)))

    def store(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[0][target.id] = value  # type: ignore[index]
        elif isinstance(target, ast.Tuple):
            names: dict[str, Any] = {}
            _bind(target, value, names)
            self.scopes[0].update(names)  # type: ignore[attr-defined]
        else:
            container, key = self.place(target)
            self.put(container, key, value)

    def place(self, target: ast.expr) -> tuple[Any, Any]:
        """The container and key an assignment writes to (``doc["X"]``, ``doc.X``, ``xs[0]``)."""
        if isinstance(target, ast.Attribute):
            container = self.value_of(target.value)
            key: Any = target.attr
            if not isinstance(container, dict):
                raise ExpressionError(
                    gettext(
                        "Cannot set the field '%(attr)s' of %(container)s; only dicts "
                        "have fields") % {
                        "attr": target.attr, "container": _kind(container)}
                )
            return container, key
        assert isinstance(target, ast.Subscript)  # checked when compiled
        container = self.value_of(target.value)
        key = self.value_of(target.slice)
        if isinstance(container, dict):
            _check_key(key)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise ExpressionError(gettext(
                    "A field name must be text, not %(key)s") % {
                    "key": _kind(key)})
        elif isinstance(container, list):
            if not isinstance(key, int):
                raise ExpressionError(gettext(
                    "A list is indexed by a whole number, not %(key)s") % {
                    "key": _kind(key)})
            if not -len(container) <= key < len(container):
                raise ExpressionError(
                    gettext(
                        "Index %(key)s is out of range for a list of %(count)s items") % {
                        "key": key, "count": len(container)}
                )
        else:
            raise ExpressionError(
                gettext(
                    "Cannot change %(container)s; only dicts and lists can be changed") % {
                    "container": _kind(container)}
            )
        return container, key

    def put(self, container: Any, key: Any, value: Any) -> None:
        if isinstance(value, _NESTED):
            self.refuse_cycle(container, value)
        container[key] = value
        if len(container) > self.limits.max_collection:
            del container[key]
            raise ExpressionError(
                gettext(
                    "The dict would have more than %(limit)s fields") % {
                    "limit": self.limits.max_collection}
            )

    def refuse_cycle(self, container: Any, value: Any) -> None:
        """A dict or list put inside itself would make the caller's JSON endless."""
        stack = [value]
        seen: set[int] = set()
        while stack:
            current = stack.pop()
            if current is container:
                raise ExpressionError(gettext("A dict or list cannot be put inside itself"))
            if id(current) in seen:
                continue
            seen.add(id(current))
            children = current.values() if isinstance(current, dict) else current
            stack.extend(child for child in children if isinstance(child, (list, dict)))
        if len(seen) > 1000:
            self.check_clock()

    def check_nesting(self, variables: dict[str, Any]) -> None:
        """Refuse a script's result nested deeper than max_depth (or endlessly, in a cycle).

        Storing ``cur["next"] = {}; cur = cur["next"]`` in a loop builds a chain no single
        assignment can see; the caller's JSON encoder would fail on it with RecursionError,
        far from the mapping. Runs under the script's clock.
        """
        limit = self.limits.max_depth
        deepest: dict[int, int] = {}
        stack = [(value, 1) for value in variables.values() if isinstance(value, _NESTED)]
        visits = 0
        while stack:
            value, level = stack.pop()
            if level > limit:
                raise ExpressionError(
                    gettext(
                        "The script built a value nested more than %(limit)s levels deep") % {
                        "limit": limit}
                )
            # A value reached again at a deeper level is walked again: at most `limit` times.
            if deepest.get(id(value), 0) >= level:
                continue
            deepest[id(value)] = level
            visits += 1
            if not visits % 1024:
                self.check_clock()
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, level + 1) for child in children if isinstance(child, _NESTED))

    def if_statement(self, node: ast.If) -> None:
        self.execute(node.body if self.value_of(node.test) else node.orelse)

    def for_statement(self, node: ast.For) -> None:
        source = self.value_of(node.iter)
        for item in self.items(source, "The for loop"):
            self.store(node.target, item)
            try:
                self.execute(node.body)
            except _Break:
                break
            except _Continue:
                continue

    def pass_statement(self, node: ast.Pass) -> None:
        pass

    def break_statement(self, node: ast.Break) -> None:
        raise _Break

    def continue_statement(self, node: ast.Continue) -> None:
        raise _Continue


_EXPRESSIONS: Mapping[type, Callable[[_Run, Any], Any]] = MappingProxyType({
    ast.Constant: _Run.constant,
    ast.Name: _Run.name,
    ast.Attribute: _Run.attribute,
    ast.Subscript: _Run.subscript,
    ast.BinOp: _Run.binop,
    ast.UnaryOp: _Run.unaryop,
    ast.BoolOp: _Run.boolop,
    ast.Compare: _Run.compare,
    ast.IfExp: _Run.ifexp,
    ast.Call: _Run.call,
    ast.List: _Run.list_display,
    ast.Tuple: _Run.list_display,
    ast.Set: _Run.set_display,
    ast.Dict: _Run.dict_display,
    ast.JoinedStr: _Run.joined_str,
    ast.FormattedValue: _Run.formatted_value,
    ast.ListComp: _Run.comprehension,
    ast.SetComp: _Run.comprehension,
    ast.DictComp: _Run.comprehension,
    ast.GeneratorExp: _Run.comprehension,
})

_STATEMENTS: Mapping[type, Callable[[_Run, Any], None]] = MappingProxyType({
    ast.Assign: _Run.assign,
    ast.AugAssign: _Run.augassign,
    ast.If: _Run.if_statement,
    ast.For: _Run.for_statement,
    ast.Pass: _Run.pass_statement,
    ast.Break: _Run.break_statement,
    ast.Continue: _Run.continue_statement,
})

_BINARY: Mapping[type, tuple[str, Callable[[Any, Any], Any]]] = MappingProxyType({
    ast.Add: (gettext_noop("add"), operator.add),
    ast.Sub: (gettext_noop("subtract"), operator.sub),
    ast.Mult: (gettext_noop("multiply"), operator.mul),
    ast.Div: (gettext_noop("divide"), operator.truediv),
    ast.FloorDiv: (gettext_noop("divide"), operator.floordiv),
    ast.Mod: (gettext_noop("take the remainder of"), operator.mod),
    ast.Pow: (gettext_noop("raise to a power"), operator.pow),
    ast.LShift: (gettext_noop("shift"), operator.lshift),
    ast.RShift: (gettext_noop("shift"), operator.rshift),
    ast.BitOr: (gettext_noop("combine with |"), operator.or_),
    ast.BitAnd: (gettext_noop("combine with &"), operator.and_),
    ast.BitXor: (gettext_noop("combine with ^"), operator.xor),
})
_SIMPLE: Mapping[type, Callable[[Any, Any], Any]] = MappingProxyType({
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
})
# Operators Python also defines on dicts, dates or other types; we allow them on whole numbers
# (and the set operators on sets) only.
_INT_ONLY = frozenset({ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor})

_COMPARISONS: Mapping[type, Callable[[Any, Any], Any]] = MappingProxyType({
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
})


def _bind(target: ast.expr, value: Any, scope: dict[str, Any]) -> None:
    """Bind a loop or comprehension variable (a name, or a tuple of names)."""
    if isinstance(target, ast.Name):
        scope[target.id] = value
        return
    assert isinstance(target, ast.Tuple)  # checked when compiled
    if not isinstance(value, (list, tuple)) or len(value) != len(target.elts):
        if isinstance(value, (list, tuple)):
            raise ExpressionError(gettext(
                "Cannot unpack %(value)s of %(size)s into %(count)s names") % {
                "value": _kind(value), "size": len(value), "count": len(target.elts)})
        raise ExpressionError(gettext("Cannot unpack %(value)s into %(count)s names") % {
            "value": _kind(value), "count": len(target.elts)})
    for element, item in zip(target.elts, value, strict=True):
        _bind(element, item, scope)


def _check_key(key: Any) -> None:
    if isinstance(key, str) and key.startswith("_"):
        raise ExpressionError(gettext(
            "Keys starting with _ are not allowed: %(value)r") % {
            "value": _short(key)})
    if not isinstance(key, _SCALARS):
        raise ExpressionError(gettext("%(key)s cannot be a key") % {"key": _kind(key).capitalize()})


def _short(value: Any) -> str:
    """A value for a message, cut to 40 characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and value.bit_length() > 64:
        text = "a very big number"
    elif isinstance(value, (int, float, Decimal)):
        text = str(value)
    else:
        text = _kind(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _locate(error: ExpressionError, node: ast.AST, lines: tuple[str, ...]) -> None:
    line = getattr(node, "lineno", None)
    offset = getattr(node, "col_offset", None)
    if line is None:
        return
    error.line = line
    if offset is not None and 0 < line <= len(lines):
        # col_offset counts UTF-8 bytes; integrators count letters (Cyrillic is two bytes).
        prefix = lines[line - 1].encode("utf-8")[:offset]
        error.column = len(prefix.decode("utf-8", errors="ignore")) + 1


def _text(value: Any, run: _Run) -> str:
    """A value as text: None is empty, numbers and dates as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        run.check_int(value)
        return str(value)
    if isinstance(value, (float, Decimal, dt.date)):
        return str(value)
    raise ExpressionError(
        gettext(
            "Cannot turn %(value)s into text; use join() for a list or pick a field") % {
            "value": _kind(value)}
    )


# --- the functions -------------------------------------------------------------------------
def _text_arg(value: Any, function: str, what: str = "text") -> str | None:
    """A text argument: None stays None, numbers become text, lists are refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (*_NUMBERS, dt.date)):
        return _text(value, _current_run())
    raise ExpressionError(gettext(
        "%(function)s() needs %(what)s, not %(value)s") % {
        "function": function, "what": gettext(what), "value": _kind(value)})


def _number_text(text: str, function: str) -> Decimal:
    """Parse '1 234,50' or '1234.5' as written (spaces and a decimal comma allowed)."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        if len(cleaned) > 100:
            raise decimal.InvalidOperation
        number = Decimal(cleaned)
    except decimal.InvalidOperation:
        raise ExpressionError(gettext(
            "%(function)s() cannot read %(value)r as a number") % {
            "function": function, "value": _short(text)}) \
            from None
    if not number.is_finite() or abs(number.adjusted()) > 100:
        raise ExpressionError(gettext(
            "%(function)s() cannot read %(value)r as a number") % {
            "function": function, "value": _short(text)})
    return number


def fn_len(value: Any, /) -> int:
    """len(x) — how many characters are in text, or items in a list or dict."""
    if isinstance(value, (str, list, tuple, dict, set, frozenset, range)):
        return len(value)
    raise ExpressionError(gettext(
        "len() needs text or a list, not %(value)s") % {
        "value": _kind(value)})


def fn_str(value: Any, /) -> str:
    """str(x) — x as text. None becomes empty text; lists are refused (use join())."""
    return _text(value, _current_run())


def fn_int(value: Any, /) -> int:
    """int(x) — a whole number, cutting off the fraction: int("12,7") is 12."""
    run = _current_run()
    if isinstance(value, str):
        value = _number_text(value, "int")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(gettext("int() needs a finite number"))
        value = _float_to_decimal(value)
    if isinstance(value, Decimal):
        # Refuse before converting: int(Decimal("1E+999999")) would build a huge integer.
        if not value.is_finite() or value.adjusted() > run.limits.max_int_bits * 0.31 + 1:
            raise ExpressionError(
                gettext(
                    "The number is too big (more than %(limit)s bits)") % {
                    "limit": run.limits.max_int_bits}
            )
        result = int(value)
        run.check_int(result)
        return result
    raise ExpressionError(gettext(
        "int() cannot turn %(value)s into a whole number") % {
        "value": _kind(value)})


def fn_float(value: Any, /) -> float:
    """float(x) — a number with a fraction; text may use a decimal comma: float("12,5")."""
    if isinstance(value, str):
        value = _number_text(value, "float")
    if _is_number(value) or isinstance(value, bool):
        result = float(value)
        if not math.isfinite(result):
            raise ExpressionError(gettext("The number is too big"))
        return result
    raise ExpressionError(gettext(
        "float() cannot turn %(value)s into a number") % {
        "value": _kind(value)})


def fn_decimal(value: Any, /) -> Decimal:
    """decimal(x) — an exact decimal number for money: decimal("12,50"), decimal(0.1)."""
    if isinstance(value, str):
        return _number_text(value, "decimal")
    if isinstance(value, float):
        return _float_to_decimal(value)
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    raise ExpressionError(gettext(
        "decimal() cannot turn %(value)s into a number") % {
        "value": _kind(value)})


def fn_bool(value: Any, /) -> bool:
    """bool(x) — False for None, 0, empty text or an empty list; True otherwise."""
    return bool(value)


def fn_round(value: Any, ndigits: int | None = None, /) -> Any:
    """round(x, n=0) — rounds half away from zero on the number as written: round(2.675, 2)
    is 2.68. Without n the result is a whole number."""
    if not _is_number(value):
        raise ExpressionError(gettext(
            "round() needs a number, not %(value)s") % {
            "value": _kind(value)})
    places = 0 if ndigits is None else ndigits
    if not isinstance(places, int) or not -20 <= places <= 20:
        raise ExpressionError(gettext("round() takes a whole number of places from -20 to 20"))
    if isinstance(value, int):
        if places >= 0:
            return value
        unit = 10 ** -places
        magnitude = (abs(value) + unit // 2) // unit * unit
        return magnitude if value >= 0 else -magnitude
    exact = _float_to_decimal(value) if isinstance(value, float) else value
    try:
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except decimal.InvalidOperation:
        raise ExpressionError(gettext("round(): the number is too big to round")) from None
    if ndigits is None:
        return fn_int(rounded)
    return float(rounded) if isinstance(value, float) else rounded


def fn_abs(value: Any, /) -> Any:
    """abs(x) — the number without its sign."""
    if not _is_number(value):
        raise ExpressionError(gettext(
            "abs() needs a number, not %(value)s") % {
            "value": _kind(value)})
    return abs(value)


def _choose(values: tuple[Any, ...], function: str, pick: Callable[..., Any]) -> Any:
    run = _current_run()
    if len(values) == 1:
        values = tuple(run.items(values[0], f"{function}()"))
    if not values:
        raise ExpressionError(gettext(
            "%(function)s() of an empty list has no answer") % {
            "function": function})
    run.measure(values)  # one budget for all the comparisons pick() will make
    try:
        return pick(values)
    except TypeError:
        raise ExpressionError(gettext(
            "%(function)s() cannot compare values of different kinds") % {
            "function": function}) \
            from None


def fn_min(*values: Any) -> Any:
    """min(a, b, ...) or min(list) — the smallest value."""
    return _choose(values, "min", min)


def fn_max(*values: Any) -> Any:
    """max(a, b, ...) or max(list) — the largest value."""
    return _choose(values, "max", max)


def fn_sum(values: Any, /, start: Any = 0) -> Any:
    """sum(list) — the total of the numbers in a list: sum(p.price for p in order.products)."""
    run = _current_run()
    total = start
    for value in run.items(values, "sum()"):
        if not _is_number(value) and not isinstance(value, bool):
            raise ExpressionError(gettext(
                "sum() can only add numbers, not %(value)s") % {
                "value": _kind(value)})
        total = run.arithmetic(ast.Add, total, value)
    return total


def fn_any(values: Any, /) -> bool:
    """any(list) — True when at least one item is true."""
    return any(bool(value) for value in _current_run().items(values, "any()"))


def fn_all(values: Any, /) -> bool:
    """all(list) — True when every item is true."""
    return all(bool(value) for value in _current_run().items(values, "all()"))


def fn_range(*bounds: Any) -> range:
    """range(stop) or range(start, stop, step=1) — whole numbers to loop over."""
    run = _current_run()
    if not 1 <= len(bounds) <= 3 or not all(
        isinstance(b, int) and not isinstance(b, bool) for b in bounds
    ):
        raise ExpressionError(gettext("range() takes one to three whole numbers"))
    for bound in bounds:
        run.check_int(bound)
    if len(bounds) == 3 and bounds[2] == 0:
        raise ExpressionError(gettext("range() step cannot be zero"))
    numbers = range(*bounds)
    # A loop takes one step per number, so a longer range could never finish. (len() of a
    # range past sys.maxsize raises OverflowError; the arithmetic below does not.)
    start, stop, step = numbers.start, numbers.stop, numbers.step
    count = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    if count > run.limits.step_limit:
        raise ExpressionError(
            gettext(
                "range() of %(count)s numbers is too long (the limit is %(limit)s)") % {
                "count": count, "limit": run.limits.step_limit}
        )
    return numbers


def fn_list(values: Any = (), /) -> list[Any]:
    """list(x) — the items of a list, range or set (sorted), or the characters of text."""
    run = _current_run()
    result = []
    for value in run.items(values, "list()"):
        result.append(value)
        if len(result) > run.limits.max_collection:
            raise ExpressionError(
                gettext(
                    "The list would have more than %(limit)s items") % {
                    "limit": run.limits.max_collection}
            )
    return result


def fn_sorted(values: Any, /, *, reverse: bool = False) -> list[Any]:
    """sorted(list, reverse=False) — the items in order."""
    items = fn_list(values)
    _current_run().measure(items)
    try:
        return sorted(items, reverse=bool(reverse))
    except TypeError:
        raise ExpressionError(gettext(
            "sorted() cannot compare values of different kinds")) from None


def fn_enumerate(values: Any, /, start: int = 0) -> list[tuple[int, Any]]:
    """enumerate(list, start=0) — pairs (number, item): for i, line in enumerate(lines, 1)."""
    if not isinstance(start, int):
        raise ExpressionError(gettext("enumerate() start must be a whole number"))
    return list(enumerate(fn_list(values), start))


def fn_upper(text: Any, /) -> str | None:
    """upper(text) — in capital letters. None stays None."""
    value = _text_arg(text, "upper")
    return None if value is None else value.upper()


def fn_lower(text: Any, /) -> str | None:
    """lower(text) — in small letters. None stays None."""
    value = _text_arg(text, "lower")
    return None if value is None else value.lower()


def fn_strip(text: Any, chars: Any = None, /) -> str | None:
    """strip(text, chars=spaces) — without spaces (or the given characters) at both ends."""
    value = _text_arg(text, "strip")
    if chars is not None and not isinstance(chars, str):
        raise ExpressionError(gettext(
            "strip() takes the characters to remove as text, not %(chars)s") % {
            "chars": _kind(chars)})
    return None if value is None else value.strip(chars)


def fn_replace(text: Any, old: Any, new: Any, /) -> str | None:
    """replace(text, old, new) — every `old` replaced by `new`. None stays None."""
    value = _text_arg(text, "replace")
    old_text = _text_arg(old, "replace") or ""
    new_text = _text_arg(new, "replace") or ""
    if value is None:
        return None
    limit = _current_run().limits.max_string
    # Size the result before building it: replace("a"*1000, "", "x"*1000) is a megabyte.
    count = len(value) + 1 if not old_text else value.count(old_text)
    size = len(value) + count * (len(new_text) - len(old_text))
    if size > limit:
        raise ExpressionError(
            gettext(
                "replace() would make text %(size)s characters long; the limit is "
                "%(limit)s") % {
                "size": size, "limit": limit}
        )
    return value.replace(old_text, new_text)


def fn_startswith(text: Any, prefix: Any, /) -> bool:
    """startswith(text, prefix) — True when text begins with prefix. None gives False."""
    value = _text_arg(text, "startswith")
    return value is not None and value.startswith(_text_arg(prefix, "startswith") or "")


def fn_endswith(text: Any, suffix: Any, /) -> bool:
    """endswith(text, suffix) — True when text ends with suffix. None gives False."""
    value = _text_arg(text, "endswith")
    return value is not None and value.endswith(_text_arg(suffix, "endswith") or "")


def fn_contains(container: Any, item: Any, /) -> bool:
    """contains(text_or_list, x) — True when x is in the text (or list, or dict's keys).
    None gives False."""
    if container is None:
        return False
    return _current_run().contains(container, item)


def fn_split(text: Any, sep: Any = None, /) -> list[str]:
    """split(text, sep=spaces) — the parts of text between separators. None gives []."""
    value = _text_arg(text, "split")
    if value is None:
        return []
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise ExpressionError(gettext("split() needs a non-empty text separator"))
    cap = _current_run().limits.max_collection
    parts = value.split(sep, cap)  # at most cap + 1 parts, however long the text
    if len(parts) > cap:
        raise ExpressionError(gettext(
            "split() would make more than %(limit)s parts") % {
            "limit": cap})
    return parts


def _join_texts(sep: str, parts: list[str], function: str) -> str:
    run = _current_run()
    size = sum(len(part) for part in parts) + len(sep) * max(len(parts) - 1, 0)
    if size > run.limits.max_string:
        raise ExpressionError(
            gettext(
                "%(function)s() would make text %(size)s characters long; the limit is "
                "%(limit)s") % {
                "function": function, "size": size, "limit": run.limits.max_string}
        )
    return sep.join(parts)


def fn_join(sep: Any, values: Any, /) -> str:
    """join(sep, list) — the items as text, with sep between them: join(", ", names).
    None items become empty text."""
    if not isinstance(sep, str):
        raise ExpressionError(gettext(
            "join() takes the separator first, as text, not %(sep)s") % {
            "sep": _kind(sep)})
    run = _current_run()
    parts = [_text(value, run) for value in run.items(values, "join()")]
    return _join_texts(sep, parts, "join")


def fn_concat(*parts: Any, sep: Any = "") -> str:
    """concat(a, b, ..., sep="") — the non-empty parts joined with sep:
    concat(city, street, house, sep=", "). None and empty text are skipped."""
    if not isinstance(sep, str):
        raise ExpressionError(gettext(
            "concat() sep must be text, not %(sep)s") % {
            "sep": _kind(sep)})
    run = _current_run()
    texts = [_text(part, run) for part in parts if part is not None]
    return _join_texts(sep, [text for text in texts if text != ""], "concat")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple, dict, set, frozenset)) and not value


def fn_coalesce(*values: Any) -> Any:
    """coalesce(a, b, ...) — the first value that is not empty (None, blank text, an empty
    list); None when all are."""
    return next((value for value in values if not _empty(value)), None)


def fn_substr(text: Any, start: Any, length: Any = None, /) -> str | None:
    """substr(text, start, length=rest) — part of text; start counts from 0, negative counts
    from the end. None stays None."""
    value = _text_arg(text, "substr")
    if not isinstance(start, int) or (length is not None and not isinstance(length, int)):
        raise ExpressionError(gettext("substr() takes whole numbers for start and length"))
    if value is None:
        return None
    if length is not None and length < 0:
        raise ExpressionError(gettext("substr() length cannot be negative"))
    begin = start if start >= 0 else max(len(value) + start, 0)
    return value[begin:] if length is None else value[begin:begin + length]


def fn_digits(text: Any, /) -> str | None:
    """digits(text) — only the digits 0-9 of text: digits("+38 (067) 123") is "38067123"."""
    value = _text_arg(text, "digits")
    return None if value is None else "".join(c for c in value if c in "0123456789")


def fn_phone(text: Any, /) -> str | None:
    """phone(text) — a Ukrainian phone as +380XXXXXXXXX ("067 123 45 67", "+38(050)1234567",
    "380931112233", "0931112233"); None when it is not one."""
    value = _text_arg(text, "phone")
    if value is None or len(value) > 64:
        return None
    return normalize_phone(value)  # the same rule the counterparty search uses


_DATE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?"
)


def fn_date(value: Any, /) -> dt.datetime | dt.date | None:
    """date(text) — a date and time from "2025-03-14 09:12:04", "2025-03-14" or ISO
    "2025-03-14T09:12:04.000000Z" (the Z or offset is kept). None stays None."""
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ExpressionError(gettext("date() needs text, not %(value)s") % {"value": _kind(value)})
    text = value.strip()
    if not _DATE_TEXT.fullmatch(text):
        raise ExpressionError(
            gettext(
                "date() cannot read %(value)r; expected YYYY-MM-DD HH:MM:SS") % {
                "value": _short(value)}
        )
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ExpressionError(gettext(
            "date() cannot read %(value)r: no such date") % {
            "value": _short(value)}) from None


_DATE_PATTERN = re.compile(r"%[YmdHMS%]")


def fn_format_date(value: Any, pattern: Any = "%Y-%m-%d", /) -> str | None:
    """format_date(d, pattern="%Y-%m-%d") — a date as text; the pattern may use %Y %m %d %H
    %M %S (and %% for a percent sign): format_date(date(order.ordered_at), "%d.%m.%Y").
    None stays None."""
    if not isinstance(pattern, str) or len(pattern) > 200:
        raise ExpressionError(gettext("format_date() needs a pattern of at most 200 characters"))
    if "%" in _DATE_PATTERN.sub("", pattern):
        raise ExpressionError(gettext(
            "format_date() patterns may only use %(patterns)s and %(percent)s") % {
            "patterns": "%Y %m %d %H %M %S", "percent": "%%"})
    moment = fn_date(value)
    if moment is None:
        return None
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    return moment.strftime(pattern)


def fn_custom_field(record: Any, uuid: Any, /) -> Any:
    """custom_field(order, uuid) — the value of the order's (or buyer's) custom field with
    that uuid, e.g. custom_field(order, "OR_1001"); None when it has none."""
    if not isinstance(uuid, str):
        raise ExpressionError(gettext(
            "custom_field() needs the field's uuid as text, not %(uuid)s") % {
            "uuid": _kind(uuid)})
    if record is None:
        return None
    if not isinstance(record, dict):
        raise ExpressionError(gettext(
            "custom_field() needs an order or buyer, not %(record)s") % {
            "record": _kind(record)})
    fields = dict.get(record, "custom_fields")
    if isinstance(fields, dict):  # some payloads key the values by uuid
        return _Run.entry(dict.get(fields, uuid), "The custom field")
    run = _current_run()
    for field in run.items(fields or [], "custom_field()"):
        if isinstance(field, dict) and dict.get(field, "uuid") == uuid:
            return _Run.entry(dict.get(field, "value"), "The custom field")
    return None


def fn_lines_total(
    lines: Any, /, field: Any = "price_sold", quantity: Any = "quantity"
) -> Any:
    """lines_total(lines, field="price_sold", quantity="quantity") — the sum of field ×
    quantity over the lines; quantity=None sums the field alone. Missing values count as 0."""
    for key in (field, quantity):
        if key is not None and (not isinstance(key, str) or key.startswith("_")):
            raise ExpressionError(gettext(
                "lines_total() takes field names as text (not starting with _)"))
    run = _current_run()
    total: Any = 0
    for line in run.items(lines, "lines_total()"):
        if not isinstance(line, dict):
            raise ExpressionError(gettext(
                "lines_total() needs a list of dicts, not of %(line)s") % {
                "line": _kind(line)})
        amount = dict.get(line, field)
        if quantity is not None:
            amount = run.arithmetic(ast.Mult, amount or 0, dict.get(line, quantity) or 0)
        total = run.arithmetic(ast.Add, total, amount or 0)
    return total


_SPECS: Mapping[str, Callable[..., Any]] = MappingProxyType({
    "len": fn_len,
    "str": fn_str,
    "int": fn_int,
    "float": fn_float,
    "decimal": fn_decimal,
    "bool": fn_bool,
    "round": fn_round,
    "abs": fn_abs,
    "min": fn_min,
    "max": fn_max,
    "sum": fn_sum,
    "any": fn_any,
    "all": fn_all,
    "range": fn_range,
    "list": fn_list,
    "sorted": fn_sorted,
    "enumerate": fn_enumerate,
    "upper": fn_upper,
    "lower": fn_lower,
    "strip": fn_strip,
    "replace": fn_replace,
    "startswith": fn_startswith,
    "endswith": fn_endswith,
    "contains": fn_contains,
    "split": fn_split,
    "join": fn_join,
    "concat": fn_concat,
    "coalesce": fn_coalesce,
    "substr": fn_substr,
    "digits": fn_digits,
    "phone": fn_phone,
    "date": fn_date,
    "format_date": fn_format_date,
    "custom_field": fn_custom_field,
    "lines_total": fn_lines_total,
})
_SIGNATURES: Mapping[str, inspect.Signature] = MappingProxyType(
    {name: inspect.signature(function) for name, function in _SPECS.items()}
)

# The whitelisted functions by name, each with a docstring for the admin's help text. A copy:
# the interpreter calls only what this module defines, whatever is done to this dict.
FUNCTIONS: dict[str, Callable[..., Any]] = dict(_SPECS)


# --- compile-time checks -------------------------------------------------------------------
_REFUSED: Mapping[type, str] = MappingProxyType({
    ast.Import: gettext_noop("'import' is not allowed in mappings"),
    ast.ImportFrom: gettext_noop("'import' is not allowed in mappings"),
    ast.Lambda: gettext_noop("'lambda' is not allowed in mappings"),
    ast.FunctionDef: gettext_noop("Defining functions with 'def' is not allowed in mappings"),
    ast.AsyncFunctionDef: gettext_noop(
        "Defining functions with 'def' is not allowed in mappings"),
    ast.ClassDef: gettext_noop("'class' is not allowed in mappings"),
    ast.While: gettext_noop(
        "'while' loops are not allowed in mappings; use 'for' over a list or range()"),
    ast.NamedExpr: gettext_noop("The walrus operator ':=' is not allowed in mappings; assign on "
                                "its own line in a script"),
    ast.Starred: gettext_noop("Unpacking with * is not allowed in mappings"),
    ast.Await: gettext_noop("'await' is not allowed in mappings"),
    ast.Yield: gettext_noop("'yield' is not allowed in mappings"),
    ast.YieldFrom: gettext_noop("'yield' is not allowed in mappings"),
    ast.Global: gettext_noop("'global' is not allowed in mappings"),
    ast.Nonlocal: gettext_noop("'nonlocal' is not allowed in mappings"),
    ast.Delete: gettext_noop("'del' is not allowed in mappings"),
    ast.Try: gettext_noop("'try' is not allowed in mappings"),
    ast.TryStar: gettext_noop("'try' is not allowed in mappings"),
    ast.Raise: gettext_noop("'raise' is not allowed in mappings"),
    ast.Return: gettext_noop(
        "'return' is not allowed in mappings; a script's result is what it assigns"),
    ast.With: gettext_noop("'with' is not allowed in mappings"),
    ast.AsyncWith: gettext_noop("'with' is not allowed in mappings"),
    ast.AsyncFor: gettext_noop("'async for' is not allowed in mappings"),
    ast.Assert: gettext_noop("'assert' is not allowed in mappings"),
    ast.Match: gettext_noop("'match' is not allowed in mappings; use if/elif"),
    ast.AnnAssign: gettext_noop(
        "Annotated assignments are not allowed in mappings; write x = value"),
})
# Fixed number formats without a width (a width is how f"{x:>1000000000}" builds a gigabyte).
_FORMAT_SPEC = re.compile(r"[+\- ]?[,_]?(\.\d{1,2})?[dfe%]?")
_CONTEXT_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _parse(source: str, mode: str, limits: Limits) -> ast.AST:
    if not isinstance(source, str):
        raise ExpressionError(gettext(
            "The source must be text, not %(source)s") % {
            "source": _kind(source)})
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            gettext(
                "The source is %(count)s characters long; the limit is "
                "%(limit)s") % {
                "count": len(source), "limit": MAX_SOURCE_LENGTH}
        )
    try:
        return ast.parse(source, mode=mode)
    except SyntaxError as exc:
        nested = "too many nested" in (exc.msg or "")
        message = gettext("The expression is nested too deeply") if nested else \
            gettext("Syntax error: %(error)s") % {"error": exc.msg}
        raise ExpressionError(message, line=exc.lineno, column=exc.offset) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            gettext(
                "The expression is nested too deeply (more than %(limit)s levels)") % {
                "limit": limits.max_depth}
        ) from None
    except ValueError as exc:  # NUL characters
        raise ExpressionError(gettext(
            "The source cannot be read: %(error)s") % {
            "error": exc}) from None


def _check_depth(tree: ast.AST, limits: Limits, lines: tuple[str, ...]) -> None:
    """Iterative, so a tree too deep for recursion is refused instead of crashing."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            error = ExpressionError(
                gettext(
                    "The expression is nested too deeply (more than %(limit)s levels)") % {
                    "limit": limits.max_depth}
            )
            _locate(error, node, lines)
            raise error
        stack.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, _CONTEXT_NODES)
        )


class _Checker:
    """Walks a parsed tree once (after _check_depth, so recursion is bounded), refusing what
    is outside the language and collecting the free variable names."""

    def __init__(self, lines: tuple[str, ...], limits: Limits):
        self.lines = lines
        self.limits = limits
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.loops = 0

    def fail(self, message: str, node: ast.AST) -> NoReturn:
        error = ExpressionError(message)
        _locate(error, node, self.lines)
        raise error

    # -- statements -------------------------------------------------------------------------
    def statements(self, nodes: list[ast.stmt]) -> None:
        for node in nodes:
            self.statement(node)

    def statement(self, node: ast.stmt) -> None:
        if type(node) in _REFUSED:
            self.fail(gettext(_REFUSED[type(node)]), node)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self.target(target, allow_fields=True)
            self.expression(node.value, frozenset())
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Tuple):
                self.fail(gettext("Augmented assignment needs a single name or field"), node)
            self.operator(node.op, node)
            self.target(node.target, allow_fields=True)
            if isinstance(node.target, ast.Name):
                self.reads.add(node.target.id)
            self.expression(node.value, frozenset())
        elif isinstance(node, ast.If):
            self.expression(node.test, frozenset())
            self.statements(node.body)
            self.statements(node.orelse)
        elif isinstance(node, ast.For):
            if node.orelse:
                self.fail(gettext("'for ... else' is not allowed in mappings"), node.orelse[0])
            self.target(node.target, allow_fields=False)
            self.expression(node.iter, frozenset())
            self.loops += 1
            self.statements(node.body)
            self.loops -= 1
        elif isinstance(node, (ast.Break, ast.Continue)):
            if not self.loops:
                word = "break" if isinstance(node, ast.Break) else "continue"
                self.fail(gettext(
                    "'%(word)s' is only allowed inside a for loop") % {
                    "word": word}, node)
        elif isinstance(node, ast.Expr):
            self.expression(node.value, frozenset())  # names a refused construct first
            self.fail(
                gettext("A line that only computes a value does nothing; assign it, "
                'e.g. doc["Поле"] = ...'), node,
            )
        elif not isinstance(node, ast.Pass):
            self.fail(gettext(
                "'%(value)s' statements are not allowed in mappings") % {
                "value": type(node).__name__}, node)

    def target(self, node: ast.expr, *, allow_fields: bool) -> None:
        if isinstance(node, ast.Name):
            self.name_allowed(node.id, node)
            if node.id in _SPECS:
                self.fail(gettext(
                    "'%(id)s' is a function; choose another variable name") % {
                    "id": node.id}, node)
            self.writes.add(node.id)
        elif isinstance(node, ast.Tuple):
            for element in node.elts:
                if not isinstance(element, (ast.Name, ast.Tuple)):
                    self.fail(gettext("Only names can be unpacked into: a, b = ..."), element)
                self.target(element, allow_fields=False)
        elif allow_fields and isinstance(node, ast.Attribute):
            self.attribute_allowed(node.attr, node)
            self.expression(node.value, frozenset())
        elif allow_fields and isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                self.fail(gettext(
                    "Assigning to a slice is not allowed; assign one item at a time"), node)
            self.check_Subscript(node, frozenset())
        else:
            self.fail(
                gettext("Only names, fields (doc.Поле, doc[\"Поле\"]) and list items can be "
                        "assigned to")
                if allow_fields else gettext("A loop variable must be a name or names: for a, "
                                             "b in ..."),
                node,
            )

    # -- expressions ------------------------------------------------------------------------
    def name_allowed(self, name: str, node: ast.AST) -> None:
        if name.startswith("_"):
            self.fail(gettext(
                "Names starting with _ are not allowed: '%(name)s'") % {
                "name": name}, node)

    def attribute_allowed(self, name: str, node: ast.AST) -> None:
        if name.startswith("_"):
            self.fail(gettext(
                "Fields starting with _ are not allowed: '.%(name)s'") % {
                "name": name}, node)

    def operator(self, op: ast.AST, node: ast.AST) -> None:
        if type(op) not in _BINARY:
            self.fail(gettext("The @ operator is not allowed in mappings"), node)

    def expression(self, node: ast.expr, bound: frozenset[str]) -> None:
        kind = type(node)
        if kind in _REFUSED:
            self.fail(gettext(_REFUSED[kind]), node)
        if kind not in _EXPRESSIONS and kind is not ast.Slice:
            self.fail(gettext(
                "'%(kind)s' is not allowed in mappings") % {
                "kind": kind.__name__}, node)
        handler = getattr(self, "check_" + kind.__name__, None)
        if handler is not None:
            handler(node, bound)
        else:
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, _CONTEXT_NODES):
                    self.expression(child, bound)  # type: ignore[arg-type]

    def check_Constant(self, node: ast.Constant, bound: frozenset[str]) -> None:
        value = node.value
        if isinstance(value, bytes):
            self.fail(gettext("Bytes literals (b'...') are not allowed in mappings"), node)
        if isinstance(value, complex):
            self.fail(gettext("Complex numbers are not allowed in mappings"), node)
        if value is Ellipsis:
            self.fail(gettext("'...' is not allowed in mappings"), node)
        if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
            self.fail(gettext(
                "The number is too big (more than %(limit)s bits)") % {
                "limit": self.limits.max_int_bits}, node)

    def check_Name(self, node: ast.Name, bound: frozenset[str]) -> None:
        self.name_allowed(node.id, node)
        if node.id in _SPECS:
            self.fail(gettext(
                "'%(id)s' is a function: call it, e.g. %(id)s(...)") % {
                "id": node.id}, node)
        if node.id not in bound:
            self.reads.add(node.id)

    def check_Attribute(self, node: ast.Attribute, bound: frozenset[str]) -> None:
        self.attribute_allowed(node.attr, node)
        self.expression(node.value, bound)

    def check_Subscript(self, node: ast.Subscript, bound: frozenset[str]) -> None:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) \
                and key.value.startswith("_"):
            self.fail(gettext(
                "Keys starting with _ are not allowed: %(key)r") % {
                "key": key.value}, key)
        self.expression(node.value, bound)
        self.expression(key, bound)

    def check_BinOp(self, node: ast.BinOp, bound: frozenset[str]) -> None:
        self.operator(node.op, node)
        self.expression(node.left, bound)
        self.expression(node.right, bound)

    def check_Compare(self, node: ast.Compare, bound: frozenset[str]) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            sides = operands[index:index + 2]
            if isinstance(op, (ast.Is, ast.IsNot)) and not any(
                isinstance(side, ast.Constant)
                and (side.value is None or side.value is True or side.value is False)
                for side in sides
            ):
                self.fail(gettext(
                    "'is' only compares with None, True or False; use == instead"), node)
        for operand in operands:
            self.expression(operand, bound)

    def check_Call(self, node: ast.Call, bound: frozenset[str]) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            self.attribute_allowed(func.attr, func)
            self.fail(
                gettext(
                    "Method calls like .%(attr)s() are not allowed; call a function "
                    "instead, e.g. upper(x) rather than x.upper()") % {
                    "attr": func.attr}, node,
            )
        if not isinstance(func, ast.Name):
            self.fail(gettext("Only functions can be called, by their name, e.g. len(x)"), node)
        name = func.id  # type: ignore[union-attr]
        self.name_allowed(name, func)
        if name not in _SPECS:
            if name in DENIED_NAMES:
                self.fail(
                    gettext(
                        "Calling %(function)s() is not allowed: Python built-ins are not "
                        "available in mappings") % {
                        "function": name}, node,
                )
            self.fail(
                gettext(
                    "Unknown function %(function)s(); the functions are: %(value)s") % {
                    "function": name, "value": ', '.join(sorted(_SPECS))},
                node,
            )
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                self.fail(gettext(_REFUSED[ast.Starred]), argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                self.fail(gettext(
                    "Unpacking arguments with ** is not allowed in mappings"), keyword)
        try:
            _SIGNATURES[name].bind(
                *node.args, **{keyword.arg: keyword.value for keyword in node.keywords}
            )
        except TypeError as exc:
            self.fail(gettext("%(function)s(): %(error)s") % {"function": name, "error": exc}, node)
        for argument in node.args:
            self.expression(argument, bound)
        for keyword in node.keywords:
            self.expression(keyword.value, bound)

    def check_Dict(self, node: ast.Dict, bound: frozenset[str]) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                self.fail(gettext("Unpacking a dict with ** is not allowed in mappings"), value)
            self.expression(key, bound)  # type: ignore[arg-type]
            self.expression(value, bound)

    def check_JoinedStr(self, node: ast.JoinedStr, bound: frozenset[str]) -> None:
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self.check_FormattedValue(value, bound)

    def check_FormattedValue(
        self, node: ast.FormattedValue, bound: frozenset[str]
    ) -> None:
        if node.conversion in (ord("r"), ord("a")):
            self.fail(
                gettext(
                    "!%(value)s is not allowed in f-strings; write {x} or {x!s}") % {
                    "value": chr(node.conversion)},
                node,
            )
        spec = node.format_spec
        if spec is not None and spec.values:
            fixed = len(spec.values) == 1 and isinstance(spec.values[0], ast.Constant)
            if not fixed or not _FORMAT_SPEC.fullmatch(spec.values[0].value):  # type: ignore
                self.fail(
                    gettext("This f-string format is not allowed: only fixed number formats "
                            "such as {price:.2f} or {total:,.2f} (no width, no nested {})"), node,
                )
        self.expression(node.value, bound)

    def comprehension(self, node: Any, bound: frozenset[str]) -> None:
        inner = bound
        for generator in node.generators:
            if generator.is_async:
                self.fail(gettext("'async for' is not allowed in mappings"), node)
            self.expression(generator.iter, inner)
            inner = inner | self.loop_names(generator.target)
            for condition in generator.ifs:
                self.expression(condition, inner)
        if isinstance(node, ast.DictComp):
            self.expression(node.key, inner)
            self.expression(node.value, inner)
        else:
            self.expression(node.elt, inner)

    check_ListComp = check_SetComp = check_GeneratorExp = check_DictComp = comprehension

    def loop_names(self, target: ast.expr) -> frozenset[str]:
        if isinstance(target, ast.Name):
            self.name_allowed(target.id, target)
            if target.id in _SPECS:
                self.fail(gettext(
                    "'%(id)s' is a function; choose another variable name") % {
                    "id": target.id}, target)
            return frozenset({target.id})
        if isinstance(target, ast.Tuple):
            names: frozenset[str] = frozenset()
            for element in target.elts:
                names |= self.loop_names(element)
            return names
        self.fail(gettext("A loop variable must be a name or names: for a, b in ..."), target)


def _lines(source: str) -> tuple[str, ...]:
    return tuple(source.splitlines())


def compile_expression(source: str, *, limits: Limits = DEFAULT_LIMITS) -> Expression:
    """Parse and check an expression. Raises ExpressionError naming what is not allowed.

    ``limits`` are the ones the expression will be evaluated with: compiling refuses trees
    deeper than ``max_depth`` and literals bigger than ``max_int_bits``, so a mapping the
    form accepts cannot fail on them later.
    """
    lines = _lines(source) if isinstance(source, str) else ()
    try:
        tree = _parse(source, "eval", limits)
    except ExpressionError as syntax_error:
        # A statement ("import os", "x = 1", "while True: ...") is not an expression; name
        # the construct when it is one we refuse, rather than answer "invalid syntax".
        try:
            statements = ast.parse(source, mode="exec") if len(source) <= MAX_SOURCE_LENGTH \
                else None
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            statements = None
        if statements is None:
            raise syntax_error from None
        if not statements.body:  # type: ignore[attr-defined]
            raise ExpressionError(gettext("The expression is empty")) from None
        _check_depth(statements, limits, lines)
        checker = _Checker(lines, limits)
        checker.statements(statements.body)  # type: ignore[attr-defined]
        raise ExpressionError(
            gettext(
                "This is a statement, not an expression; assignments and loops belong in "
                "a script"),
            line=syntax_error.line, column=syntax_error.column,
        ) from None
    assert isinstance(tree, ast.Expression)
    _check_depth(tree, limits, lines)
    checker = _Checker(lines, limits)
    checker.expression(tree.body, frozenset())
    return Expression(source, frozenset(checker.reads), tree, lines)


def compile_script(source: str, *, limits: Limits = DEFAULT_LIMITS) -> Script:
    """Parse and check a script (statements, one per line). Raises ExpressionError."""
    tree = _parse(source, "exec", limits)
    assert isinstance(tree, ast.Module)
    lines = _lines(source)
    _check_depth(tree, limits, lines)
    checker = _Checker(lines, limits)
    checker.statements(tree.body)
    return Script(source, frozenset(checker.reads - checker.writes), tree, lines)


class Expression:
    """A checked expression. Immutable and safe to share between threads."""

    __slots__ = ("_lines", "_tree", "names", "source")

    def __init__(
        self, source: str, names: frozenset[str], tree: ast.Expression, lines: tuple[str, ...]
    ):
        self.source = source
        self.names = names  # free variable names it reads (for validation in forms)
        self._tree = tree
        self._lines = lines

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, variables: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Any:
        """The value of the expression. Raises ExpressionError (ExpressionTimeout on limits).
        Reads ``variables`` and never changes them."""
        run = _Run(limits, "expression", self._lines, variables)
        return run.start(lambda: run.value_of(self._tree.body))


class Script:
    """A checked script. Immutable and safe to share between threads."""

    __slots__ = ("_lines", "_tree", "names", "source")

    def __init__(
        self, source: str, names: frozenset[str], tree: ast.Module, lines: tuple[str, ...]
    ):
        self.source = source
        self.names = names  # names it reads but never assigns: the variables it expects
        self._tree = tree
        self._lines = lines

    def __repr__(self) -> str:
        return f"Script({self.source!r})"

    def run(self, variables: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
        """Execute on a deep copy of ``variables`` and return the final variables (the given
        ones, changed, plus those the script assigned). The caller's objects are never
        changed, so a script that fails halfway leaves nothing half-done.
        Raises ExpressionError (ExpressionTimeout on limits)."""
        working = copy.deepcopy(dict(variables))
        run = _Run(limits, "script", self._lines, working)

        def work() -> None:
            run.execute(self._tree.body)
            run.check_nesting(working)

        run.start(work)
        return working
