"""Prices and cost price from BAS to KeyCRM offers (``price`` / ``purchased_price``), delta only.

Prices: the latest record per item (and characteristic) of the chosen price type, read with
``SliceLast`` on the configuration's price register — ``BasClient.slice_last`` reads from
``$metadata`` whether the register binds the slice to ``_RecordType`` (recorder-subordinate, as
in BAS Accounting) or to itself (BAS Small Business). Cost: another price type, or in BAS Small
Business the cost register ``AccumulationRegister_Запасы`` (sum / quantity of the balance).

Which KeyCRM offer an item is: the correspondence register (offers linked by the KeyCRM → BAS
flow, by offer id) and the offers the BAS → KeyCRM flow created (by SKU). A record without a
characteristic applies to every offer of the item that has no price of its own.

The value last pushed per offer is kept (``CatalogueState``, updated in the outbox confirm), so
a run sends only offers whose value changed, up to 10,000 per ``PUT /offers``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueSettings, CostSource
from catalogue.report import Progress, SyncReport, no_progress
from catalogue.state import fingerprint, states_by_key, states_save
from integration.bas import literals
from integration.bas.client import BasClient
from integration.bas.configurations import BasConfiguration, objects_for
from integration.keycrm.client import KeyCrmClient
from integration.pipelines.catalog_to_bas import CatalogueConfigError
from integration.pipelines.catalog_to_keycrm import OFFER
from mappings.models import Correspondence, KeyCrmDirectory
from staging.models import OutboxMessage
from staging.services.outbox import Sender, outbox_put, register_sender

PRICES_KIND = "catalogue.offer_prices"
OFFERS_UPDATE_BATCH = 10_000  # PUT /offers takes up to 10,000 offers a call
PRICE, COST = "price", "purchased_price"
COST_REGISTER = {BasConfiguration.SMALL_BUSINESS: "AccumulationRegister_Запасы"}
# The price register's price-type dimension, per configuration (bas-odata.md §9.3).
PRICE_TYPE_FIELD = {BasConfiguration.SMALL_BUSINESS: "ВидЦен_Key",
                    BasConfiguration.ACCOUNTING: "ТипЦен_Key"}
ERP_PRICE_TYPE_FIELD = "ВидЦены_Key"
CENT = Decimal("0.01")
PRICE_TYPE_MISSING = gettext_lazy("Choose the price type in the catalogue settings.")
COST_TYPE_MISSING = gettext_lazy("Choose the cost price type in the catalogue settings.")

Key = tuple[str, str]  # (item Ref_Key, characteristic Ref_Key or the empty ref)


def prices_to_keycrm(*, account: KeyCrmAccount, settings: CatalogueSettings, bas: BasClient,
                     field: str = PRICE, dry_run: bool = False,
                     progress: Progress = no_progress) -> SyncReport:
    """Queue ``PUT /offers`` for offers whose ``field`` (price or purchased_price) changed.
    Raises ``BasError`` and ``CatalogueConfigError``."""
    configuration = account.bas_connection.configuration
    values = _cost_values(bas, settings, configuration) if field == COST else _slice_values(
        bas, configuration, settings.price_type_ref, PRICE_TYPE_MISSING)
    targets = _targets(account)
    progress(total=len(targets))
    states = states_by_key(account=account, kind=field)
    offers = []
    report = SyncReport(dry_run=dry_run)
    for key, target, item_key in targets:
        value = values.get(item_key)
        if value is None:
            value = values.get((item_key[0], literals.EMPTY_REF))
        progress(add=1)
        if value is None:
            continue
        state = states.get(key)
        if state is not None and state.fingerprint == str(value):
            report.unchanged += 1
            continue
        report.change("update", key, **{field: float(value)})
        offers.append({**target, field: float(value), "_key": key})
    if dry_run or not offers:
        return report
    with transaction.atomic():
        for start in range(0, len(offers), OFFERS_UPDATE_BATCH):
            batch = offers[start:start + OFFERS_UPDATE_BATCH]
            outbox_put(account=account, kind=PRICES_KIND,
                       key=f"catalogue:{field}:{fingerprint(batch)[:16]}",
                       payload={"field": field, "offers": batch}, cause=f"catalogue {field}")
            report.queued_messages += 1
    return report


def _slice_values(bas: BasClient, configuration: str, price_type: Any,
                  missing: Promise) -> dict[Key, Decimal]:
    """``missing``: what to tell the operator when no price type is chosen."""
    if price_type is None:
        raise CatalogueConfigError(str(missing))
    register = objects_for(configuration).price_register
    type_field = PRICE_TYPE_FIELD.get(configuration, ERP_PRICE_TYPE_FIELD)
    rows = bas.slice_last(register, condition=f"{type_field} eq {literals.guid(str(price_type))}")
    return {(row["Номенклатура_Key"], row.get("Характеристика_Key") or literals.EMPTY_REF):
            _money(row.get("Цена")) for row in rows}


def _cost_values(bas: BasClient, settings: CatalogueSettings,
                 configuration: str) -> dict[Key, Decimal]:
    if settings.cost_source == CostSource.PRICE_TYPE:
        return _slice_values(bas, configuration, settings.cost_price_type_ref,
                             COST_TYPE_MISSING)
    register = COST_REGISTER.get(configuration)
    if register is None:
        raise CatalogueConfigError(gettext(
            "This configuration has no cost register the portal reads: choose a cost price "
            "type instead."))
    rows = bas.balance(register, dimensions=["Номенклатура", "Характеристика"])
    values = {}
    for row in rows:
        quantity = Decimal(str(row.get("КоличествоBalance") or 0))
        if quantity > 0:  # an average cost needs stock; none or negative tells nothing
            key = (row["Номенклатура_Key"], row.get("Характеристика_Key") or literals.EMPTY_REF)
            values[key] = _money(Decimal(str(row.get("СуммаBalance") or 0)) / quantity)
    return values


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def _targets(account: KeyCrmAccount) -> list[tuple[str, dict[str, Any], Key]]:
    """(state key, how PUT /offers names the offer, the BAS item and characteristic) for every
    offer the portal knows in both systems."""
    targets: list[tuple[str, dict[str, Any], Key]] = []
    seen_skus = set()
    for state in states_by_key(account=account, kind=OFFER).values():
        if state.sku and state.bas_ref:
            seen_skus.add(state.sku)
            targets.append((f"sku:{state.sku}", {"sku": state.sku}, (
                str(state.bas_ref), str(state.bas_characteristic_ref or literals.EMPTY_REF))))
    for link in Correspondence.objects.filter(account=account, directory=KeyCrmDirectory.OFFER):
        targets.append((f"id:{link.keycrm_id}", {"id": link.keycrm_id}, (
            str(link.bas_ref), str(link.bas_characteristic_ref or literals.EMPTY_REF))))
    return sorted(targets, key=lambda t: t[0])


def _send_prices(client: KeyCrmClient, message: OutboxMessage) -> None:
    """One PUT per 10,000 offers; a PUT sets absolute values, so a repeat is harmless."""
    offers = [{k: v for k, v in offer.items() if k != "_key"}
              for offer in message.payload["offers"]]
    client.update_offers(offers, batch_size=OFFERS_UPDATE_BATCH)


def _confirm_prices(message: OutboxMessage, _result: Any) -> None:
    field = message.payload["field"]
    states_save(account=message.account, kind=field, rows=[
        {"key": offer["_key"], "fingerprint": str(_money(offer[field]))}
        for offer in message.payload["offers"]])


register_sender(PRICES_KIND, Sender(send=_send_prices, confirm=_confirm_prices))
