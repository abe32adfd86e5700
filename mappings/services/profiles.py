"""Document profiles: choosing the document from what the base publishes, reading its attributes
from ``$metadata``, starting from a preset, and previewing an order."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from integration.bas.client import BasClient, BasError
from integration.bas.metadata import AttributeKind, Metadata, MetadataError
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from mappings.engine.plan import DocumentPlan, plan_document
from mappings.engine.resolve import Resolver
from mappings.models import DocumentProfile, FieldMapping, ProfileAttribute
from mappings.presets import PRESETS

SKIPPED_COLUMNS = {"LineNumber", "Ref_Key"}


class ProfileError(Exception):
    """Something a person must fix before the profile can be set up; the text says what."""


def bas_client_for(account: KeyCrmAccount) -> BasClient:
    connection = account.bas_connection
    if connection is None:
        raise ProfileError(gettext("Account “%(account)s” has no BAS connection: choose one "
                                   "first.") % {"account": account})
    return BasClient.for_connection(connection)


def account_metadata(account: KeyCrmAccount, *, refresh: bool = False) -> Metadata:
    client = bas_client_for(account)
    try:
        return client.metadata(refresh=refresh)
    except BasError as exc:
        raise ProfileError(gettext("BAS did not give its $metadata: %(error)s")
                           % {"error": exc}) from exc
    finally:
        client.close()


def document_choices(metadata: Metadata) -> list[str]:
    """Documents the base publishes (the profile's document is one of them)."""
    # Tabular-section sets (Document_X_Запасы) share the prefix; documents are the ones that
    # can be posted.
    return [name for name in metadata.sets_with_prefix("Document_")
            if "Posted" in metadata.entity_type(name).properties]


def section_choices(metadata: Metadata, document_set: str) -> list[str]:
    try:
        return sorted(metadata.tabular_sections(document_set))
    except MetadataError:
        return []


@dataclasses.dataclass
class FillResult:
    added: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    stale_but_mapped: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        text = gettext("%(added)d attribute(s) added, %(changed)d changed type, %(removed)d "
                       "removed") % {"added": len(self.added), "changed": len(self.updated),
                                     "removed": len(self.removed)}
        if self.stale_but_mapped:
            text += ". " + gettext("No longer in $metadata but still mapped (check these "
                                   "mappings): %(attributes)s") % {
                "attributes": ", ".join(self.stale_but_mapped)}
        return text


@transaction.atomic
def profile_fill_attributes(*, profile: DocumentProfile,
                            metadata: Metadata | None = None) -> FillResult:
    """Read the document's header attributes and the lines section's columns from
    ``$metadata`` into ``ProfileAttribute`` rows. Idempotent; attributes that disappeared are
    removed unless a mapping uses them (then they are reported)."""
    metadata = metadata or account_metadata(profile.account, refresh=True)
    try:
        entity = metadata.entity_type(profile.document_set)
    except MetadataError as exc:
        raise ProfileError(str(exc)) from exc
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for attribute in entity.attributes():
        if attribute.kind not in (AttributeKind.STANDARD, AttributeKind.TABULAR):
            wanted[("", attribute.name)] = (attribute.type, attribute.kind.value)
    if profile.lines_section:
        sections = metadata.tabular_sections(profile.document_set)
        if profile.lines_section not in sections:
            raise ProfileError(gettext(
                "%(document)s has no tabular section “%(section)s”; it has: %(sections)s") % {
                "document": profile.document_set, "section": profile.lines_section,
                "sections": ", ".join(sorted(sections)) or "—"})
        for column in sections[profile.lines_section].attributes():
            if column.name not in SKIPPED_COLUMNS:
                wanted[(profile.lines_section, column.name)] = (column.type, column.kind.value)
    result = FillResult()
    existing = {(a.section, a.name): a for a in profile.attributes.all()}
    for key, (edm_type, kind) in wanted.items():
        current = existing.get(key)
        label = f"{key[0]}.{key[1]}" if key[0] else key[1]
        if current is None:
            ProfileAttribute.objects.create(profile=profile, section=key[0], name=key[1],
                                            edm_type=edm_type, kind=kind)
            result.added.append(label)
        elif (current.edm_type, current.kind) != (edm_type, kind):
            current.edm_type, current.kind = edm_type, kind
            current.save(update_fields=["edm_type", "kind"])
            result.updated.append(label)
    for key, current in existing.items():
        if key in wanted:
            continue
        label = f"{key[0]}.{key[1]}" if key[0] else key[1]
        if current.mappings.exists():
            result.stale_but_mapped.append(label)
        else:
            current.delete()
            result.removed.append(label)
    profile.attributes_filled_at = timezone.now()
    profile.save(update_fields=["attributes_filled_at"])
    return result


@dataclasses.dataclass
class PresetResult:
    profile: DocumentProfile
    mapped: list[str]
    missing: list[str]  # preset attributes this base does not have

    def summary(self) -> str:
        text = gettext("%(count)d mapping(s) from the preset") % {"count": len(self.mapped)}
        if self.missing:
            text += "; " + gettext("not in this base, skipped: %(attributes)s") % {
                "attributes": ", ".join(self.missing)}
        return text


@transaction.atomic
def profile_apply_preset(*, account: KeyCrmAccount, preset_key: str,
                         metadata: Metadata | None = None) -> PresetResult:
    """Create (or reset) the account's profile from a preset: the document, its attributes from
    ``$metadata`` and the preset's mappings. Existing mappings of the profile are replaced."""
    try:
        preset = PRESETS[preset_key]
    except KeyError:
        raise ProfileError(gettext("There is no preset “%(preset)s”.")
                           % {"preset": preset_key}) from None
    profile, _ = DocumentProfile.objects.update_or_create(
        account=account,
        defaults={"document_set": preset.document_set, "lines_section": preset.lines_section,
                  "order_id_attribute": preset.order_id_attribute,
                  "order_id_template": "KC-{id}"})
    profile_fill_attributes(profile=profile, metadata=metadata)
    profile.mappings.all().delete()
    attributes = {(a.section, a.name): a for a in profile.attributes.all()}
    result = PresetResult(profile=profile, mapped=[], missing=[])
    for position, item in enumerate(preset.mappings):
        section = preset.lines_section if item.section else ""
        attribute = attributes.get((section, item.attribute))
        label = f"{section}.{item.attribute}" if section else item.attribute
        if attribute is None:
            result.missing.append(label)
            continue
        FieldMapping.objects.create(profile=profile, attribute=attribute,
                                    position=position * 10, **item.fields())
        result.mapped.append(label)
    return result


def order_fetch(*, account: KeyCrmAccount, order_id: int) -> dict[str, Any]:
    """The order with everything accounting needs, straight from KeyCRM (one call)."""
    client = KeyCrmClient.for_account(account)
    try:
        return client.get_order(order_id)
    except KeyCrmError as exc:
        raise ProfileError(gettext("KeyCRM did not give order %(id)s: %(error)s")
                           % {"id": order_id, "error": exc}) from exc
    finally:
        client.close()


def profile_preview(*, profile: DocumentProfile, order: dict[str, Any]) -> DocumentPlan:
    """The document the pipeline would write for ``order``, without writing anything."""
    bas = bas_client_for(profile.account) if profile.account.bas_connection else None
    try:
        return plan_document(profile=profile, order=order,
                             resolver=Resolver(account=profile.account, bas=bas))
    finally:
        if bas is not None:
            bas.close()
