"""$metadata parsing on a fixed EDMX document (the emulator's own $metadata is parsed in
test_client.py)."""

from pathlib import Path

import pytest

from integration.bas.metadata import AttributeKind, MetadataError, parse_metadata

SAMPLE = (Path(__file__).parent / "fixtures" / "metadata-sample.xml").read_bytes()


def test_entity_sets_properties_and_keys():
    metadata = parse_metadata(SAMPLE)
    assert metadata.has("Document_ЗаказПокупателя")
    assert not metadata.has("Document_РасходнаяНакладная")
    order = metadata.entity_type("Document_ЗаказПокупателя")
    assert order.key == ("Ref_Key",)
    assert order.properties["СуммаДокумента"].type == "Edm.Double"
    assert metadata.entity_type("Document_ЗаказПокупателя_Запасы").key == ("Ref_Key", "LineNumber")


def test_attribute_kinds_for_the_mapping_screen():
    kinds = {a.name: a.kind for a in
             parse_metadata(SAMPLE).entity_type("Document_ЗаказПокупателя").attributes()}
    assert kinds["Контрагент_Key"] == AttributeKind.REFERENCE
    assert kinds["СостояниеЗаказа"] == AttributeKind.COMPOSITE
    assert "СостояниеЗаказа_Type" not in kinds  # reported with its value, not on its own
    assert kinds["Комментарий"] == AttributeKind.VALUE
    assert kinds["Запасы"] == AttributeKind.TABULAR
    assert kinds["Ref_Key"] == AttributeKind.STANDARD


def test_tabular_sections_and_their_columns():
    sections = parse_metadata(SAMPLE).tabular_sections("Document_ЗаказПокупателя")
    assert list(sections) == ["Запасы"]
    columns = {a.name: a.kind for a in sections["Запасы"].attributes()}
    assert columns["ЕдиницаИзмерения"] == AttributeKind.COMPOSITE
    assert columns["Количество"] == AttributeKind.VALUE


def test_function_bindings_by_entity_set_path_and_by_binding_parameter():
    metadata = parse_metadata(SAMPLE)
    assert metadata.functions_for("Document_ЗаказПокупателя") == {"Post", "Unpost"}
    assert metadata.function_binding("InformationRegister_ЦеныНоменклатуры", "SliceLast") == (
        "InformationRegister_ЦеныНоменклатуры_RecordType"
    )
    assert metadata.function_binding("Document_ЗаказПокупателя", "SliceLast") is None


def test_unknown_set_and_non_edmx_input_are_clear_errors():
    with pytest.raises(MetadataError, match="not published"):
        parse_metadata(SAMPLE).entity_type("Catalog_Нема")
    with pytest.raises(MetadataError, match="not valid XML"):
        parse_metadata(b"<html><body>Login</body>")
    with pytest.raises(MetadataError, match="not EDMX"):
        parse_metadata(b"<feed/>")
