import datetime as dt

import pytest

from integration.keycrm.timestamps import format_keycrm_datetime, parse_keycrm_datetime

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-28T09:24:01.000000Z", dt.datetime(2024, 5, 28, 9, 24, 1, tzinfo=UTC)),
        ("2024-05-28 09:24:01", dt.datetime(2024, 5, 28, 9, 24, 1, tzinfo=UTC)),
        ("2024-05-28T12:24:01+03:00", dt.datetime(2024, 5, 28, 9, 24, 1, tzinfo=UTC)),
        ("2024-05-28", dt.datetime(2024, 5, 28, tzinfo=UTC)),
    ],
)
def test_both_keycrm_styles_parse_to_aware_utc(text, expected):
    parsed = parse_keycrm_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


def test_empty_values_are_none_and_garbage_is_an_error():
    assert parse_keycrm_datetime(None) is None
    assert parse_keycrm_datetime("") is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_keycrm_datetime("вчора")


def test_formatting_converts_to_utc_and_refuses_naive():
    kyiv = dt.timezone(dt.timedelta(hours=2))
    assert format_keycrm_datetime(dt.datetime(2025, 3, 14, 11, 12, tzinfo=kyiv)) == (
        "2025-03-14 09:12:00"
    )
    with pytest.raises(ValueError, match="naive"):
        format_keycrm_datetime(dt.datetime(2025, 3, 14, 11, 12))
