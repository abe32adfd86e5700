import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from integration.bas import literals

KYIV = ZoneInfo("Europe/Kyiv")


def test_string_literal_doubles_quotes():
    assert literals.string("ТОВ «Ромашка» o'neil") == "'ТОВ «Ромашка» o''neil'"


def test_guid_literal_refuses_anything_but_a_guid():
    assert literals.guid("3CA886B6-AABD-11E7-1A8D-021C5DD9FC20") == (
        "guid'3ca886b6-aabd-11e7-1a8d-021c5dd9fc20'"
    )
    with pytest.raises(ValueError, match="badly formed"):
        literals.guid("x' or 1 eq 1 or 'a")


def test_datetime_literal_is_the_servers_wall_clock():
    utc = dt.datetime(2025, 3, 14, 8, 30, tzinfo=dt.UTC)  # 10:30 in Kyiv (UTC+2 in March)
    assert literals.datetime(utc, KYIV) == "datetime'2025-03-14T10:30:00'"
    summer = dt.datetime(2025, 7, 1, 21, 0, tzinfo=dt.UTC)  # UTC+3 in summer: next day
    assert literals.to_bas_datetime(summer, KYIV) == "2025-07-02T00:00:00"


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        literals.to_bas_datetime(dt.datetime(2025, 3, 14, 10, 30), KYIV)


def test_reading_back_a_local_date_and_the_empty_date():
    parsed = literals.from_bas_datetime("2025-03-14T10:30:00", KYIV)
    assert parsed == dt.datetime(2025, 3, 14, 8, 30, tzinfo=dt.UTC)
    assert literals.from_bas_datetime(literals.EMPTY_DATE, KYIV) is None


def test_numbers_never_use_exponents():
    assert literals.number(1e-7) == "0.0000001"
    assert literals.number(1200.50) == "1200.5"
    assert literals.number(3) == "3"
    with pytest.raises(ValueError, match="boolean"):
        literals.number(True)


def test_cast_and_or_chain():
    ref = "3ca886b6-aabd-11e7-1a8d-021c5dd9fc20"
    assert literals.cast(ref, "Document_ЗаказПокупателя") == (
        f"cast(guid'{ref}', 'Document_ЗаказПокупателя')"
    )
    assert literals.any_of("Ref_Key", ["guid'a'", "guid'b'"]) == (
        "(Ref_Key eq guid'a' or Ref_Key eq guid'b')"
    )
