"""Mirrors of KeyCRM's directories (statuses, sources, products, offers…) per account.

``directories_sync`` reads every element of each directory from KeyCRM and keeps one
``DirectoryEntry`` row per (account, directory, KeyCRM id). Rows are never deleted — the
correspondence register may point at them — an element KeyCRM no longer lists is only marked
``is_active=False``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import KeyCrmAccount
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from mappings.models import MIRRORED_DIRECTORIES, DirectoryEntry, KeyCrmDirectory

logger = logging.getLogger(__name__)

# Rows written per bulk query: 20 KeyCRM pages. Only one chunk of raw items is held in memory,
# whatever the size of the catalogue (50,000 offers are 50 chunks).
CHUNK_SIZE = 1000

Json = Any
Progress = Callable[[str, int], None]

_NAME_MAX = DirectoryEntry._meta.get_field("name").max_length
_SKU_MAX = DirectoryEntry._meta.get_field("sku").max_length
_UNIQUE_FIELDS = ["account", "directory", "keycrm_id"]
_UPDATE_FIELDS = ["name", "parent_keycrm_id", "sku", "data", "is_active", "synced_at"]


# --- the result -------------------------------------------------------------------------------
@dataclasses.dataclass
class DirectoryCounts:
    """What one directory's sync did. ``error`` is empty when the whole directory was read."""

    directory: str
    seen: int = 0  # elements KeyCRM listed (and that were stored)
    created: int = 0  # … of which were new to the mirror
    updated: int = 0  # … of which changed name, parent, SKU, or came back after being gone
    deactivated: int = 0  # rows KeyCRM no longer lists, now is_active=False
    error: str = ""
    retryable: bool = False  # for a failed directory: whether a later run may succeed

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def unchanged(self) -> int:
        return self.seen - self.created - self.updated

    @property
    def label(self) -> str:
        return str(KeyCrmDirectory(self.directory).label)

    def describe(self) -> str:
        if not self.ok:
            if self.seen:
                return _("%(label)s: failed after %(count)d read — %(error)s") % {
                    "label": self.label, "count": self.seen, "error": self.error}
            return _("%(label)s: failed — %(error)s") % {"label": self.label,
                                                         "error": self.error}
        details = []
        if self.created:
            details.append(_("%(count)d new") % {"count": self.created})
        if self.updated:
            details.append(_("%(count)d changed") % {"count": self.updated})
        if self.deactivated:
            details.append(_("%(count)d no longer in KeyCRM") % {"count": self.deactivated})
        text = f"{self.label}: {self.seen}"
        return f"{text} ({', '.join(details)})" if details else text


@dataclasses.dataclass
class SyncResult:
    """Per-directory counts of one ``directories_sync`` run, in the order synced."""

    account_id: int
    directories: dict[str, DirectoryCounts] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(counts.ok for counts in self.directories.values())

    @property
    def failed(self) -> list[DirectoryCounts]:
        return [counts for counts in self.directories.values() if not counts.ok]

    @property
    def succeeded(self) -> list[DirectoryCounts]:
        return [counts for counts in self.directories.values() if counts.ok]

    def summary(self, *, with_failures: bool = True) -> str:
        """One sentence for the admin, e.g. "Order statuses: 5 (2 new); Products: 300 (300
        new); Custom fields: failed — KeyCRM 500: …". ``with_failures=False`` leaves the
        failed directories out (for a caller that reports them separately)."""
        shown = [counts for counts in self.directories.values()
                 if with_failures or counts.ok]
        if not shown:
            return _("No directory was synced.")
        return "; ".join(counts.describe() for counts in shown) + "."


# --- how each directory is read ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Row:
    keycrm_id: int
    name: str
    parent_keycrm_id: int | None = None
    sku: str = ""
    data: Mapping[str, Json] = dataclasses.field(default_factory=dict)


def _optional_id(value: Any) -> int | None:
    return None if value in (None, "", 0) else int(value)


def _named(item: Json) -> _Row:
    return _Row(int(item["id"]), str(item.get("name") or ""), data=item)


def _category(item: Json) -> _Row:
    return _Row(int(item["id"]), str(item.get("name") or ""),
                parent_keycrm_id=_optional_id(item.get("parent_id")), data=item)


def _product(item: Json) -> _Row:
    # KeyCRM shows sku on the product only when it has no variants; with variants each offer
    # carries its own.
    sku = "" if item.get("has_offers") else str(item.get("sku") or "")
    return _Row(int(item["id"]), str(item.get("name") or ""), sku=sku, data=item)


def _offer(item: Json) -> _Row:
    product = item.get("product") or {}
    values = [str(p["value"]) for p in item.get("properties") or []
              if isinstance(p, dict) and p.get("value") not in (None, "")]
    base = str(product.get("name") or item.get("sku") or f"#{item['id']}")
    name = f"{base} ({', '.join(values)})" if values else base
    # The included product is read only for its name: stored with every variant it would
    # repeat the product's description in each of them. The product has its own row.
    data = {key: value for key, value in item.items() if key != "product"}
    return _Row(int(item["id"]), name, parent_keycrm_id=_optional_id(item.get("product_id")),
                sku=str(item.get("sku") or ""), data=data)


def _user(item: Json) -> _Row:
    name = item.get("full_name") or " ".join(
        str(part) for part in (item.get("first_name"), item.get("last_name")) if part
    ) or item.get("username") or item.get("email") or ""
    return _Row(int(item["id"]), str(name), data=item)


@dataclasses.dataclass(frozen=True)
class _Reader:
    read: Callable[[KeyCrmClient], Iterable[Json]]
    row: Callable[[Json], _Row]


_READERS: dict[str, _Reader] = {
    KeyCrmDirectory.ORDER_STATUS: _Reader(KeyCrmClient.list_order_statuses, _named),
    KeyCrmDirectory.SOURCE: _Reader(KeyCrmClient.list_order_sources, _named),
    KeyCrmDirectory.PAYMENT_METHOD: _Reader(KeyCrmClient.list_payment_methods, _named),
    KeyCrmDirectory.DELIVERY_SERVICE: _Reader(KeyCrmClient.list_delivery_services, _named),
    KeyCrmDirectory.CATEGORY: _Reader(KeyCrmClient.list_categories, _category),
    KeyCrmDirectory.PRODUCT: _Reader(KeyCrmClient.list_products, _product),
    # include=product costs no extra call and gives each variant its product's name.
    KeyCrmDirectory.OFFER: _Reader(lambda client: client.list_offers(include=("product",)),
                                   _offer),
    # One call: a plain array, not paginated. The uuid (OR_1012…) stays in ``data``.
    KeyCrmDirectory.CUSTOM_FIELD: _Reader(KeyCrmClient.list_custom_fields, _named),
    KeyCrmDirectory.MANAGER: _Reader(KeyCrmClient.list_users, _user),
}
assert set(_READERS) == set(MIRRORED_DIRECTORIES), "every mirrored directory needs a reader"


# --- the service ------------------------------------------------------------------------------
def directories_sync(
    *,
    account: KeyCrmAccount,
    directories: Sequence[str] = MIRRORED_DIRECTORIES,
    client: KeyCrmClient | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Refresh the account's mirrors of ``directories`` from KeyCRM.

    Per directory: every element is upserted (name, parent, SKU, raw data, ``is_active=True``,
    ``synced_at``) in bulk, ``CHUNK_SIZE`` at a time as pages arrive; then, only if the whole
    list was read, the rows not seen in this run are marked ``is_active=False``.

    A ``KeyCrmError`` stops only its directory: it is recorded in the result (rows already
    stored stay, nothing is deactivated there) and the next directory is synced. Any other
    error propagates. ``progress(directory, read_so_far)`` is called when a directory starts
    (with 0) and after each stored chunk.

    Idempotent; makes one KeyCRM call per page (retries aside) within the account's rate
    budget. Not one transaction: a long catalogue is committed chunk by chunk, so that a
    failure halfway keeps what was read and the rate budget is never taken inside a
    transaction. Two runs for one account at the same time can mark an element wrongly until
    the next run; nothing is ever deleted.

    Raises ``ValueError`` for a directory that is not mirrored and ``SecretUnreadable`` when
    ``client`` is not given and the account's API key cannot be decrypted.
    """
    unknown = [name for name in directories if name not in _READERS]
    if unknown:
        raise ValueError(f"not mirrored KeyCRM directories: {', '.join(map(str, unknown))}")
    own_client = client is None
    if client is None:
        client = KeyCrmClient.for_account(account)
    result = SyncResult(account_id=account.pk)
    try:
        for directory in directories:
            counts = _directory_sync(account=account, directory=str(directory), client=client,
                                     progress=progress)
            result.directories[counts.directory] = counts
    finally:
        if own_client:
            client.close()
    return result


def _directory_sync(*, account: KeyCrmAccount, directory: str, client: KeyCrmClient,
                    progress: Progress | None) -> DirectoryCounts:
    reader = _READERS[directory]
    counts = DirectoryCounts(directory=directory)
    # Every row seen in this run gets this stamp; rows with an older one were not seen.
    stamp = timezone.now()
    if progress:
        progress(directory, 0)
    try:
        for chunk in _chunks(reader.read(client), CHUNK_SIZE):
            _store(account=account, directory=directory, rows=map(reader.row, chunk),
                   stamp=stamp, counts=counts)
            if progress:
                progress(directory, counts.seen)
    except KeyCrmError as exc:
        # Only part of the list was read: deactivating the rest would be a guess.
        counts.error = str(exc)
        counts.retryable = exc.retryable
        logger.warning("KeyCRM directory %s of account %s failed after %d elements: %s",
                       directory, account.pk, counts.seen, exc)
        return counts
    counts.deactivated = (
        DirectoryEntry.objects
        .filter(account=account, directory=directory, is_active=True)
        .filter(Q(synced_at__lt=stamp) | Q(synced_at__isnull=True))
        .update(is_active=False)
    )
    logger.info("KeyCRM directory %s of account %s: %d seen, %d new, %d changed, "
                "%d deactivated", directory, account.pk, counts.seen, counts.created,
                counts.updated, counts.deactivated)
    return counts


def _chunks(items: Iterable[Json], size: int) -> Iterator[list[Json]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _store(*, account: KeyCrmAccount, directory: str, rows: Iterable[_Row], stamp: dt.datetime,
           counts: DirectoryCounts) -> None:
    """Upsert one chunk with two queries: one read for the counts, one bulk upsert."""
    # Keyed by id: a list that shifted between two pages can repeat an element, and an upsert
    # may not touch one row twice (PostgreSQL refuses).
    by_id = {row.keycrm_id: row for row in rows}
    before = {
        keycrm_id: (name, parent, sku, is_active)
        for keycrm_id, name, parent, sku, is_active in DirectoryEntry.objects.filter(
            account=account, directory=directory, keycrm_id__in=list(by_id),
        ).values_list("keycrm_id", "name", "parent_keycrm_id", "sku", "is_active")
    }
    entries = []
    for keycrm_id, row in by_id.items():
        entry = DirectoryEntry(
            account=account, directory=directory, keycrm_id=keycrm_id,
            name=row.name[:_NAME_MAX], parent_keycrm_id=row.parent_keycrm_id,
            sku=row.sku[:_SKU_MAX], data=dict(row.data), is_active=True, synced_at=stamp,
        )
        old = before.get(keycrm_id)
        if old is None:
            counts.created += 1
        elif old != (entry.name, entry.parent_keycrm_id, entry.sku, True):
            counts.updated += 1
        entries.append(entry)
    DirectoryEntry.objects.bulk_create(entries, update_conflicts=True,
                                       unique_fields=_UNIQUE_FIELDS,
                                       update_fields=_UPDATE_FIELDS)
    counts.seen += len(entries)


# --- reads ------------------------------------------------------------------------------------
def directory_entries(*, account: KeyCrmAccount, directory: str,
                      active_only: bool = False) -> QuerySet[DirectoryEntry]:
    """The account's mirror of one directory, by name."""
    entries = DirectoryEntry.objects.filter(account=account, directory=directory)
    if active_only:
        entries = entries.filter(is_active=True)
    return entries.order_by("name", "keycrm_id")
