import re

import pytest

from mappings.engine.normalize import normalize_phone
from mappings.engine.paths import PathError, extract, parse_path

ORDER = {
    "id": 7,
    "buyer": {"full_name": "Олена Коваль", "phone": "067 123 45 67"},
    "marketing": None,
    "products": [{"sku": "A", "price_sold": 10}, {"sku": "B", "price_sold": 20}],
    "custom_fields": [{"uuid": "OR_1012", "value": "ТОВ «Приклад»"},
                      {"uuid": "OR_1013", "value": ["Безготівка"]}],
}


@pytest.mark.parametrize(("path", "expected"), [
    ("buyer.full_name", "Олена Коваль"),
    ("marketing.utm_campaign", None),
    ("nothing.here", None),
    ("products[1].sku", "B"),
    ("products[5].sku", None),
    ("custom_fields[uuid=OR_1012].value", "ТОВ «Приклад»"),
    ("custom_fields[uuid=OR_1013].value", ["Безготівка"]),
    ("custom_fields[uuid=OR_0000].value", None),
])
def test_order_paths(path, expected):
    assert extract(ORDER, path) == expected


def test_line_paths_read_the_current_line():
    assert extract(ORDER, "products[].price_sold", line=ORDER["products"][1]) == 20
    with pytest.raises(PathError, match="read per line"):
        extract(ORDER, "products[].sku")


@pytest.mark.parametrize(("path", "fragment"), [
    ("", "empty"),
    ("buyer..name", "is not a field name"),
    ("buyer.__class__", "names starting with _"),
    ("buyer[]", "only the first segment products[]"),
    ("custom_fields[uuid=]", "name[key=value]"),
    ("products[x]", "a selector is a number or key=value"),
])
def test_bad_paths_are_explained(path, fragment):
    with pytest.raises(PathError, match=re.escape(fragment)):
        parse_path(path)


@pytest.mark.parametrize(("typed", "normal"), [
    ("067 123 45 67", "+380671234567"),
    ("+38(050)1234567", "+380501234567"),
    ("380931112233", "+380931112233"),
    ("0931112233", "+380931112233"),
    ("+380 (67) 123-45-67", "+380671234567"),
    ("12345", None),
    (None, None),
])
def test_phones_are_normalised_to_plus_380(typed, normal):
    assert normalize_phone(typed) == normal
