"""Filling a preset's fixed references from the BAS emulator's reference data, as an
integrator does with "Pick from BAS…"."""

from __future__ import annotations

from mappings.models import DocumentProfile, FieldMapping


def set_mapping(profile: DocumentProfile, attribute: str, section: str = "", **fields) -> None:
    """Change the fields of the mapping of one attribute (``section`` for line columns)."""
    FieldMapping.objects.filter(profile=profile, attribute__name=attribute,
                                attribute__section=section).update(**fields)


def pick_small_business_references(profile: DocumentProfile, ref: dict) -> None:
    """The six fixed references of the BAS Small Business preset, from
    ``bas.reference("sb")``."""
    set_mapping(profile, "Организация_Key", value=ref["Catalog_Организации"]["main"])
    set_mapping(profile, "ВалютаДокумента_Key", value=ref["Catalog_Валюты"]["UAH"])
    set_mapping(profile, "СтруктурнаяЕдиницаПродажи_Key",
                value=ref["Catalog_СтруктурныеЕдиницы"]["sales"])
    set_mapping(profile, "СтруктурнаяЕдиницаРезерв_Key",
                value=ref["Catalog_СтруктурныеЕдиницы"]["warehouse"])
    set_mapping(profile, "ЕдиницаИзмерения", "Запасы",
                value=ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"])
    set_mapping(profile, "СтавкаНДС_Key", "Запасы", value=ref["Catalog_СтавкиНДС"]["20"])
