"""Configuration export and import: one versioned document that carries BAS connections, KeyCRM
accounts and, per account, the document profile with its attributes and field mappings, the
status correspondence and the correspondence register.

The document never carries a secret: no API key, no BAS password, no webhook token, in plain
text or encrypted. A person enters the keys and passwords after an import into a new portal, and
every account the import creates gets a fresh webhook token. KeyCRM directory mirrors
(``DirectoryEntry``) are not part of it either: the next sync rebuilds them from KeyCRM.

Lists are ordered by their natural keys, so two exports of the same configuration are identical
apart from ``exported_at`` and the file diffs well under version control.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Literal

import yaml
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import BasConnection, KeyCrmAccount
from mappings.models import (
    Correspondence,
    DocumentProfile,
    FieldMapping,
    ProfileAttribute,
    PropertyMapping,
    StatusCorrespondence,
)

FORMAT = "keycrm-bas-portal/config"
VERSION = 1

CONNECTION_FIELDS = ("name", "publication_url", "username", "configuration", "server_timezone",
                     "enabled")
ACCOUNT_FIELDS = ("name", "api_base_url", "requests_per_minute", "enabled")
PROFILE_FIELDS = ("document_set", "lines_section", "post_documents", "order_id_attribute",
                  "order_id_template", "document_script", "attributes_filled_at")
ATTRIBUTE_FIELDS = ("section", "name", "edm_type", "kind")
MAPPING_FIELDS = ("kind", "source_path", "directory", "bas_entity_set", "search_steps",
                  "create_if_missing", "expression", "value", "default_value", "position")
PROPERTY_FIELDS = ("section", "property_column", "value_column", "property_ref", "property_name",
                   "kind", "source_path", "directory", "expression", "position")
STATUS_FIELDS = ("keycrm_status_id", "keycrm_status_name", "bas_value", "bas_entity_set",
                 "bas_presentation")
CORRESPONDENCE_FIELDS = ("directory", "keycrm_id", "bas_entity_set", "bas_ref",
                         "bas_characteristic_ref", "bas_presentation", "origin", "note")

# Keys that would carry a secret. They are refused by name, so a hand-edited file that tries to
# set one hears why instead of "unknown field".
SECRET_KEYS = frozenset({"api_key", "api_key_encrypted", "password", "password_encrypted",
                         "webhook_token"})

# The kinds of rows an import touches, in the order they are imported and reported.
KINDS: dict[str, type[models.Model]] = {
    "connections": BasConnection,
    "accounts": KeyCrmAccount,
    "profiles": DocumentProfile,
    "attributes": ProfileAttribute,
    "mappings": FieldMapping,
    "properties": PropertyMapping,
    "statuses": StatusCorrespondence,
    "correspondences": Correspondence,
}

Action = Literal["created", "updated", "deleted"]


class ConfigurationFileError(ValueError):
    """The file cannot be imported; the message says where and what, in plain words. Raised
    before anything is written, or from inside the import's transaction, which then rolls back:
    either way the database is as it was."""


# --- Export -------------------------------------------------------------------------------------


def configuration_export(*, accounts: Iterable[KeyCrmAccount] | None = None) -> dict:
    """The configuration as one JSON-ready document. With ``accounts``, only those accounts and
    the BAS connections they use; otherwise every account and every connection. Reads only.

    Names are sorted here rather than by the database, whose collation differs between SQLite
    and PostgreSQL: the same configuration gives the same file on either."""
    account_qs = KeyCrmAccount.objects.select_related("bas_connection")
    connection_qs = BasConnection.objects.all()
    if accounts is not None:
        account_qs = account_qs.filter(pk__in=[account.pk for account in accounts])
        connection_qs = connection_qs.filter(keycrm_accounts__in=account_qs).distinct()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        "connections": [_export_row(connection, CONNECTION_FIELDS)
                        for connection in sorted(connection_qs, key=lambda c: c.name)],
        "accounts": [_export_account(account)
                     for account in sorted(account_qs, key=lambda a: a.name)],
    }


def _export_account(account: KeyCrmAccount) -> dict:
    profile = DocumentProfile.objects.filter(account=account).first()
    statuses = account.status_correspondences.order_by("keycrm_status_id")
    # The register may hold thousands of rows (every linked buyer and order): plain values, and
    # keys (an ASCII directory code, an integer) that every database orders alike.
    correspondences = (account.correspondences.order_by("directory", "keycrm_id")
                       .values(*CORRESPONDENCE_FIELDS))
    return {
        **_export_row(account, ACCOUNT_FIELDS),
        "bas_connection": account.bas_connection.name if account.bas_connection else None,
        "document_profile": _export_profile(profile) if profile else None,
        "status_correspondences": [_export_row(status, STATUS_FIELDS) for status in statuses],
        "correspondences": [{field: _plain(value) for field, value in row.items()}
                            for row in correspondences.iterator()],
    }


def _export_profile(profile: DocumentProfile) -> dict:
    attributes = sorted(profile.attributes.all(), key=lambda a: (a.section, a.name))
    mappings = sorted(profile.mappings.select_related("attribute"),
                      key=lambda m: (m.position, m.attribute.section, m.attribute.name))
    properties = sorted(profile.property_mappings.all(),
                        key=lambda p: (p.position, p.section, str(p.property_ref)))
    return {
        **_export_row(profile, PROFILE_FIELDS),
        "attributes": [_export_row(attribute, ATTRIBUTE_FIELDS) for attribute in attributes],
        "mappings": [
            {"attribute": {"section": mapping.attribute.section,
                           "name": mapping.attribute.name},
             **_export_row(mapping, MAPPING_FIELDS)}
            for mapping in mappings
        ],
        "property_mappings": [_export_row(prop, PROPERTY_FIELDS) for prop in properties],
    }


def _export_row(obj: models.Model, fields: Iterable[str]) -> dict:
    return {field: _plain(getattr(obj, field)) for field in fields}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


# --- Text ---------------------------------------------------------------------------------------


def configuration_dumps(data: dict, *, fmt: Literal["json", "yaml"] = "json") -> str:
    """The document as text: JSON (indented) or YAML, Cyrillic kept as letters."""
    if fmt == "yaml":
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False,
                              default_flow_style=False, width=100)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"Unknown format {fmt!r}: use 'json' or 'yaml'.")


def configuration_loads(text: str | bytes) -> dict:
    """Parses a document written by :func:`configuration_dumps` (bytes are read as UTF-8):
    JSON when it starts with ``{``, YAML otherwise (``safe_load``: no Python objects). Raises
    ConfigurationFileError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigurationFileError(
                _("The file is not UTF-8 text (byte %(position)d). Save it as UTF-8 and try "
                  "again.") % {"position": exc.start}) from exc
    text = text.removeprefix("\ufeff")  # a BOM left by a Windows editor
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationFileError(
                _("The file is not valid JSON: %(error)s (line %(line)d, column %(column)d).")
                % {"error": exc.msg, "line": exc.lineno, "column": exc.colno}) from exc
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationFileError(
                _("The file is neither JSON nor valid YAML: %(error)s") % {"error": exc}
            ) from exc
    if not isinstance(data, dict):
        raise ConfigurationFileError(
            _("The file does not hold a configuration document (expected an object with "
              "“format”, “version”, “connections” and “accounts”)."))
    return data


# --- Import -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Change:
    action: Action
    kind: str  # a key of KINDS
    label: str  # which row, in words
    fields: tuple[str, ...] = ()  # for "updated": the fields whose values changed

    def __str__(self) -> str:
        verb = {"created": _("create"), "updated": _("update"),
                "deleted": _("delete")}[self.action]
        model = KINDS[self.kind]._meta
        text = f"{verb} {model.verbose_name} {self.label}"
        if self.fields:
            text += f" ({', '.join(self.fields)})"
        return text


@dataclasses.dataclass
class ImportResult:
    dry_run: bool = False
    created: Counter[str] = dataclasses.field(default_factory=Counter)
    updated: Counter[str] = dataclasses.field(default_factory=Counter)
    deleted: Counter[str] = dataclasses.field(default_factory=Counter)
    unchanged: Counter[str] = dataclasses.field(default_factory=Counter)
    changes: list[Change] = dataclasses.field(default_factory=list)

    def record(self, action: Action, kind: str, label: str,
               fields: tuple[str, ...] = ()) -> None:
        getattr(self, action)[kind] += 1
        self.changes.append(Change(action, kind, label, fields))

    def summary(self) -> str:
        """One line for a person: what was (or, in a dry run, would be) changed per kind."""
        parts = []
        for kind, model in KINDS.items():
            counts = [
                _("%(count)d created") % {"count": self.created[kind]} if self.created[kind]
                else "",
                _("%(count)d updated") % {"count": self.updated[kind]} if self.updated[kind]
                else "",
                _("%(count)d deleted") % {"count": self.deleted[kind]} if self.deleted[kind]
                else "",
            ]
            counts = [count for count in counts if count]
            if counts:
                parts.append(f"{model._meta.verbose_name_plural}: {', '.join(counts)}")
        unchanged = sum(self.unchanged.values())
        if parts:
            text = "; ".join(parts) + "; " + _("%(count)d unchanged.") % {"count": unchanged}
        else:
            text = _("Nothing to change: all %(count)d rows already match the file.") % {
                "count": unchanged}
        if self.dry_run:
            text = _("Dry run, nothing was saved. The import would do: %(summary)s") % {
                "summary": text}
        return text


def configuration_import(*, data: dict, replace: bool = False,
                         dry_run: bool = False) -> ImportResult:
    """Creates or updates the configuration in ``data`` (a document from
    :func:`configuration_export`) by natural keys: connection and account by name, the profile
    by account, attributes by (section, name), mappings by attribute, additional-property
    mappings by (section, property), statuses by KeyCRM status id, correspondences by
    (directory, KeyCRM id).

    All in one transaction: on :class:`ConfigurationFileError` nothing is kept. With
    ``dry_run`` the transaction is rolled back and the result says what would have changed.

    With ``replace``, the attributes, mappings, property mappings, statuses and correspondences
    of each account in the file that the file does not list are deleted, and so is its document
    profile when the file has ``"document_profile": null``. A key left out of an account (e.g. no
    ``correspondences``) leaves that part as it is, with or without ``replace``. Accounts and
    connections that are not in the file are never touched.

    Secrets are never read from the file: stored API keys and passwords are kept, a created
    account has none (a person enters it), and gets a fresh webhook token. Idempotent: importing
    the same file again changes nothing.
    """
    _check_header(data)
    connections = _list(data, "connections", where="")
    accounts = _list(data, "accounts", where="")
    result = ImportResult(dry_run=dry_run)
    with transaction.atomic():
        _Importer(result, replace=replace).run(connections, accounts)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _check_header(data: Any) -> None:
    if not isinstance(data, dict):
        raise ConfigurationFileError(_("The file does not hold a configuration document."))
    if data.get("format") != FORMAT:
        if "format" not in data:
            message = _("The file has no “format” field: it was not written by the portal's "
                        "configuration export (expected “%(expected)s”).")
        else:
            message = _("The file's format is “%(found)s”, not a KeyCRM–BAS portal "
                        "configuration (expected “%(expected)s”).")
        raise ConfigurationFileError(message % {"found": data.get("format"),
                                                "expected": FORMAT})
    version = data.get("version")
    if "version" not in data:
        raise ConfigurationFileError(_("The file has no “version” field; this portal reads "
                                       "version %(expected)s.") % {"expected": VERSION})
    if version != VERSION or isinstance(version, bool):
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            message = _("The file is version %(found)s of the configuration format; this "
                        "portal reads version %(expected)s. Update the portal first.")
        else:
            message = _("The file's “version” is “%(found)s”; this portal reads version "
                        "%(expected)s.")
        raise ConfigurationFileError(message % {"found": version, "expected": VERSION})
    unknown = set(data) - {"format", "version", "exported_at", "connections", "accounts"}
    if unknown:
        raise ConfigurationFileError(
            _("The file has fields the format does not know: %(fields)s.")
            % {"fields": ", ".join(sorted(unknown))})


def _list(container: dict, key: str, *, where: str) -> list:
    if key not in container:
        raise ConfigurationFileError(
            _("%(where)s“%(key)s” is missing.") % {"where": _prefix(where), "key": key})
    value = container[key]
    if not isinstance(value, list):
        raise ConfigurationFileError(_("%(where)s“%(key)s” must be a list.")
                                     % {"where": _prefix(where), "key": key})
    return value


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _join(*parts: str) -> str:
    return " › ".join(part for part in parts if part)


class _Importer:
    def __init__(self, result: ImportResult, *, replace: bool) -> None:
        self.result = result
        self.replace = replace

    def run(self, connections: list, accounts: list) -> None:
        seen_connections: set[str] = set()
        for index, item in enumerate(connections):
            where = _join(_("connections"), f"#{index + 1}")
            values = _fields(item, where=where, allowed=CONNECTION_FIELDS, required=("name",))
            name = _key(BasConnection, "name", values["name"], where=where)
            where = _join(_("connections"), f"“{name}”")
            _unique(seen_connections, name, where=where)
            existing = BasConnection.objects.select_for_update().filter(name=name).first()
            self._save("connections", existing or BasConnection(name=name), values,
                       label=f"“{name}”", where=where)

        seen_accounts: set[str] = set()
        for index, item in enumerate(accounts):
            where = _join(_("accounts"), f"#{index + 1}")
            nested = ("document_profile", "status_correspondences", "correspondences")
            values = _fields(item, where=where,
                             allowed=(*ACCOUNT_FIELDS, "bas_connection", *nested),
                             required=("name",))
            name = _key(KeyCrmAccount, "name", values["name"], where=where)
            where = _join(_("accounts"), f"“{name}”")
            _unique(seen_accounts, name, where=where)
            parts = {key: values.pop(key) for key in nested if key in values}
            if "bas_connection" in values:
                values["bas_connection_id"] = self._connection_id(values.pop("bas_connection"),
                                                                  where=where)
            existing = KeyCrmAccount.objects.select_for_update().filter(name=name).first()
            # A new account gets its webhook token from the model's default; the stored key,
            # token and password of an existing one are never among the fields written here.
            account = self._save("accounts", existing or KeyCrmAccount(name=name), values,
                                 label=f"“{name}”", where=where)
            if "document_profile" in parts:
                self._profile(account, parts["document_profile"], where=where)
            if "status_correspondences" in parts:
                self._statuses(account, parts, where=where)
            if "correspondences" in parts:
                self._correspondences(account, parts, where=where)

    def _connection_id(self, name: Any, *, where: str) -> int | None:
        if name is None or name == "":
            return None
        connection = BasConnection.objects.filter(name=name).first()
        if connection is None:
            raise ConfigurationFileError(
                _("%(where)s: the BAS connection “%(name)s” is neither in the file nor in the "
                  "portal.") % {"where": where, "name": name})
        return connection.pk

    def _profile(self, account: KeyCrmAccount, item: Any, *, where: str) -> None:
        existing = DocumentProfile.objects.select_for_update().filter(account=account).first()
        where = _join(where, _("document profile"))
        if item is None:
            if self.replace and existing is not None:
                self._delete("mappings", existing.mappings.select_related("attribute"),
                             label=lambda m: self._attribute_label(account, m.attribute))
                self._delete("attributes", existing.attributes.all(),
                             label=lambda a: self._attribute_label(account, a))
                self._delete("properties", existing.property_mappings.all(),
                             label=lambda p: self._property_label(account, p))
                self._delete("profiles", DocumentProfile.objects.filter(pk=existing.pk),
                             label=lambda p: f"“{account.name}”")
            return
        values = _fields(item, where=where,
                         allowed=(*PROFILE_FIELDS, "attributes", "mappings",
                                  "property_mappings"),
                         required=("document_set",))
        attribute_items = values.pop("attributes", None)
        mapping_items = values.pop("mappings", None)
        property_items = values.pop("property_mappings", None)
        for key, value in (("attributes", attribute_items), ("mappings", mapping_items),
                           ("property_mappings", property_items)):
            if value is not None and not isinstance(value, list):
                raise ConfigurationFileError(_("%(where)s: “%(key)s” must be a list.")
                                             % {"where": where, "key": key})
        profile = self._save("profiles", existing or DocumentProfile(account=account), values,
                             label=f"“{account.name}”", where=where)

        existing_attributes = {
            (attribute.section, attribute.name): attribute
            for attribute in ProfileAttribute.objects.select_for_update().filter(profile=profile)
        }
        file_attributes: dict[tuple[str, str], ProfileAttribute] = {}
        for index, item in enumerate(attribute_items or []):
            item_where = _join(where, _("attributes"), f"#{index + 1}")
            values = _fields(item, where=item_where, allowed=ATTRIBUTE_FIELDS,
                             required=("name",))
            key = self._attribute_key(values, where=item_where)
            label = self._attribute_label(account, key)
            item_where = _join(where, _("attributes"), label)
            _unique(file_attributes, key, where=item_where)
            values["section"], values["name"] = key
            file_attributes[key] = self._save(
                "attributes", existing_attributes.get(key) or ProfileAttribute(profile=profile),
                values, label=label, where=item_where)

        existing_mappings = {
            mapping.attribute_id: mapping
            for mapping in FieldMapping.objects.select_for_update().filter(profile=profile)
        }
        file_mappings: set[int] = set()
        for index, item in enumerate(mapping_items or []):
            item_where = _join(where, _("mappings"), f"#{index + 1}")
            values = _fields(item, where=item_where, allowed=("attribute", *MAPPING_FIELDS),
                             required=("attribute", "kind"))
            reference = _fields(values.pop("attribute"),
                                where=_join(item_where, _("attribute")),
                                allowed=("section", "name"), required=("name",))
            key = self._attribute_key(reference, where=item_where)
            label = self._attribute_label(account, key)
            item_where = _join(where, _("mappings"), label)
            attribute = file_attributes.get(key)
            if attribute is None:
                # A mapping must name an attribute listed in the same file, so the file is whole
                # on its own and "replace" cannot delete an attribute a kept mapping needs.
                raise ConfigurationFileError(
                    _("%(where)s: the attribute %(attribute)s is not among the profile's "
                      "attributes in the file.") % {"where": item_where, "attribute": label})
            _unique(file_mappings, attribute.pk, where=item_where)
            self._save("mappings",
                       existing_mappings.get(attribute.pk)
                       or FieldMapping(profile=profile, attribute=attribute),
                       values, label=label, where=item_where)

        if self.replace:
            if mapping_items is not None:
                self._delete("mappings",
                             FieldMapping.objects.filter(profile=profile)
                             .exclude(attribute_id__in=file_mappings)
                             .select_related("attribute"),
                             label=lambda m: self._attribute_label(account, m.attribute))
            if attribute_items is not None:
                stale = [attribute.pk for key, attribute in existing_attributes.items()
                         if key not in file_attributes]
                # Mappings of a deleted attribute go with it; say so instead of letting the
                # cascade remove them silently.
                self._delete("mappings",
                             FieldMapping.objects.filter(attribute_id__in=stale)
                             .select_related("attribute"),
                             label=lambda m: self._attribute_label(account, m.attribute))
                self._delete("attributes", ProfileAttribute.objects.filter(pk__in=stale),
                             label=lambda a: self._attribute_label(account, a))
        if property_items is not None:
            self._properties(account, profile, property_items, where=where)

    def _properties(self, account: KeyCrmAccount, profile: DocumentProfile, items: list, *,
                    where: str) -> None:
        existing = {
            (prop.section, prop.property_ref): prop
            for prop in PropertyMapping.objects.select_for_update().filter(profile=profile)
        }
        seen: set[tuple[str, uuid.UUID]] = set()
        default_section = PropertyMapping._meta.get_field("section").get_default()
        for index, item in enumerate(items):
            item_where = _join(where, _("property mappings"), f"#{index + 1}")
            values = _fields(item, where=item_where, allowed=PROPERTY_FIELDS,
                             required=("property_ref",))
            key = (_key(PropertyMapping, "section", values.get("section") or default_section,
                        where=item_where),
                   _key(PropertyMapping, "property_ref", values["property_ref"],
                        where=item_where))
            label = self._property_label(account, key)
            item_where = _join(where, _("property mappings"), label)
            _unique(seen, key, where=item_where)
            values["section"], values["property_ref"] = key
            self._save("properties", existing.get(key) or PropertyMapping(profile=profile),
                       values, label=label, where=item_where)
        if self.replace:
            stale = [prop.pk for key, prop in existing.items() if key not in seen]
            self._delete("properties", PropertyMapping.objects.filter(pk__in=stale),
                         label=lambda p: self._property_label(account, p))

    def _statuses(self, account: KeyCrmAccount, parts: dict, *, where: str) -> None:
        items = _list(parts, "status_correspondences", where=where)
        existing = {
            status.keycrm_status_id: status
            for status in StatusCorrespondence.objects.select_for_update().filter(
                account=account)
        }
        seen: set[int] = set()
        for index, item in enumerate(items):
            item_where = _join(where, _("status correspondence"), f"#{index + 1}")
            values = _fields(item, where=item_where, allowed=STATUS_FIELDS,
                             required=("keycrm_status_id",))
            status_id = _key(StatusCorrespondence, "keycrm_status_id",
                             values["keycrm_status_id"], where=item_where)
            label = self._status_label(account, status_id)
            item_where = _join(where, _("status correspondence"), label)
            _unique(seen, status_id, where=item_where)
            values["keycrm_status_id"] = status_id
            # The BAS side is unique too, so let validation check it against the other rows.
            self._save("statuses",
                       existing.get(status_id) or StatusCorrespondence(account=account),
                       values, label=label, where=item_where, constraints=True)
        if self.replace:
            self._delete("statuses",
                         StatusCorrespondence.objects.filter(account=account)
                         .exclude(keycrm_status_id__in=seen),
                         label=lambda s: self._status_label(account, s.keycrm_status_id))

    def _correspondences(self, account: KeyCrmAccount, parts: dict, *, where: str) -> None:
        items = _list(parts, "correspondences", where=where)
        existing = {
            (row.directory, row.keycrm_id): row
            for row in Correspondence.objects.select_for_update().filter(account=account)
        }
        seen: set[tuple[str, int]] = set()
        for index, item in enumerate(items):
            item_where = _join(where, _("correspondences"), f"#{index + 1}")
            values = _fields(item, where=item_where, allowed=CORRESPONDENCE_FIELDS,
                             required=("directory", "keycrm_id"))
            key = (_key(Correspondence, "directory", values["directory"], where=item_where),
                   _key(Correspondence, "keycrm_id", values["keycrm_id"], where=item_where))
            label = self._correspondence_label(account, key)
            item_where = _join(where, _("correspondences"), label)
            _unique(seen, key, where=item_where)
            values["directory"], values["keycrm_id"] = key
            self._save("correspondences",
                       existing.get(key) or Correspondence(account=account),
                       values, label=label, where=item_where)
        if self.replace:
            stale = [row.pk for key, row in existing.items() if key not in seen]
            self._delete("correspondences", Correspondence.objects.filter(pk__in=stale),
                         label=lambda r: self._correspondence_label(
                             account, (r.directory, r.keycrm_id)))

    def _save(self, kind: str, obj: models.Model, values: dict, *, label: str, where: str,
              constraints: bool = False) -> Any:
        """Writes ``values`` into ``obj`` after the model's own validation; saves and records
        only what changed. Uniqueness of natural keys is settled by the caller (the row was
        looked up by its key, duplicates in the file are refused), so only rules beyond the
        natural key ask for ``constraints``."""
        created = obj.pk is None
        before = {field: getattr(obj, field) for field in values}
        for field, value in values.items():
            setattr(obj, field, value)
        try:
            obj.full_clean(validate_unique=constraints, validate_constraints=constraints)
        except ValidationError as exc:
            raise ConfigurationFileError(f"{where}: {_validation_text(obj, exc)}") from exc
        changed = tuple(field.removesuffix("_id") for field in values
                        if before[field] != getattr(obj, field))
        if created:
            obj.save()
            self.result.record("created", kind, label)
        elif changed:
            obj.save()
            self.result.record("updated", kind, label, changed)
        else:
            self.result.unchanged[kind] += 1
        return obj

    def _delete(self, kind: str, queryset: models.QuerySet, *,
                label: Callable[[Any], str]) -> None:
        rows = list(queryset)
        for row in rows:
            self.result.record("deleted", kind, label(row))
        if rows:
            type(rows[0]).objects.filter(pk__in=[row.pk for row in rows]).delete()

    @staticmethod
    def _attribute_key(values: dict, *, where: str) -> tuple[str, str]:
        section = values.get("section") or ""
        return (_key(ProfileAttribute, "section", section, where=where),
                _key(ProfileAttribute, "name", values["name"], where=where))

    @staticmethod
    def _attribute_label(account: KeyCrmAccount,
                         attribute: ProfileAttribute | tuple[str, str]) -> str:
        section, name = (attribute if isinstance(attribute, tuple)
                         else (attribute.section, attribute.name))
        return f"“{account.name}” {section + '.' if section else ''}{name}"

    @staticmethod
    def _property_label(account: KeyCrmAccount,
                        prop: PropertyMapping | tuple[str, uuid.UUID]) -> str:
        section, ref = prop if isinstance(prop, tuple) else (prop.section, prop.property_ref)
        return f"“{account.name}” {section} {ref}"

    @staticmethod
    def _status_label(account: KeyCrmAccount, status_id: int) -> str:
        return f"“{account.name}” #{status_id}"

    @staticmethod
    def _correspondence_label(account: KeyCrmAccount, key: tuple[str, int]) -> str:
        return f"“{account.name}” {key[0]} #{key[1]}"


def _fields(item: Any, *, where: str, allowed: Iterable[str],
            required: Iterable[str]) -> dict:
    if not isinstance(item, dict):
        raise ConfigurationFileError(_("%(where)s: expected an object with fields, found "
                                       "“%(found)s”.") % {"where": where, "found": item})
    secrets = SECRET_KEYS & set(item)
    if secrets:
        raise ConfigurationFileError(
            _("%(where)s: the file carries “%(field)s”. Secrets are never imported from a "
              "file; remove it and enter the secret in the admin.")
            % {"where": where, "field": sorted(secrets)[0]})
    unknown = set(item) - set(allowed)
    if unknown:
        raise ConfigurationFileError(
            _("%(where)s: unknown field(s) %(fields)s; the format knows %(allowed)s.")
            % {"where": where, "fields": ", ".join(sorted(unknown)),
               "allowed": ", ".join(allowed)})
    missing = [field for field in required if item.get(field) in (None, "")]
    if missing:
        raise ConfigurationFileError(
            _("%(where)s: “%(field)s” is missing.") % {"where": where, "field": missing[0]})
    return dict(item)


def _key(model: type[models.Model], field: str, value: Any, *, where: str) -> Any:
    """A natural-key value in the type the database compares, so "42" in a hand-edited file
    finds the row stored as 42."""
    model_field = model._meta.get_field(field)
    try:
        return model_field.clean(value, None)
    except ValidationError as exc:
        raise ConfigurationFileError(
            f"{where}: {model_field.verbose_name} — {' '.join(exc.messages)}") from exc


def _unique(seen: set | dict, key: Any, *, where: str) -> None:
    if key in seen:
        raise ConfigurationFileError(_("%(where)s appears twice in the file.")
                                     % {"where": where})
    if isinstance(seen, set):
        seen.add(key)


def _validation_text(obj: models.Model, exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for field, errors in exc.message_dict.items():
        try:
            name = str(obj._meta.get_field(field).verbose_name)
        except FieldDoesNotExist:  # NON_FIELD_ERRORS: a rule across fields
            name = ""
        parts.append(f"{name} — {' '.join(errors)}" if name else " ".join(errors))
    return "; ".join(parts)
