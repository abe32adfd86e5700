"""Configuring the portal against the two emulators, the way an integrator would against a real
KeyCRM and BAS: an account and a connection, the BAS Small Business preset with its fixed
values picked from BAS, the KeyCRM catalogue imported into BAS, status correspondence by
name, polling, the KeyCRM webhook, and a backfill of the shop's history. Idempotent: a second
run finds what the first made."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.db import transaction

from accounts.models import BasConnection, KeyCrmAccount
from catalogue.models import CatalogueSettings
from integration.bas import literals
from integration.bas.client import BasClient
from integration.keycrm.client import KeyCrmClient
from integration.pipelines.catalog_to_bas import catalog_to_bas
from mappings.models import FieldMapping, KeyCrmDirectory, StatusCorrespondence
from mappings.services.directories import directories_sync, directory_entries
from mappings.services.profiles import profile_apply_preset
from staging.models import BackfillJob, PollCursor
from staging.services.backfill import backfill_start

logger = logging.getLogger(__name__)

DEMO_KEYCRM_KEY = "demo-key"
DEMO_BAS_USER = "Адміністратор"
DEMO_BAS_PASSWORD = "demo"  # noqa: S105 - the emulator's demo login, not a secret
DEMO_ACCOUNT = "Демо-магазин (емулятор KeyCRM)"
DEMO_CONNECTION = "Демо-база БАС Малий бізнес (емулятор)"
STATES = "Catalog_СостоянияЗаказовПокупателей"

# The preset's fixed values: (attribute, lines section or "", catalog, Description in BAS).
FIXED_VALUES = (
    ("Организация_Key", "", "Catalog_Организации", "ТОВ «Демо Торгівля»"),
    ("ВалютаДокумента_Key", "", "Catalog_Валюты", "грн"),
    ("СтруктурнаяЕдиницаПродажи_Key", "", "Catalog_СтруктурныеЕдиницы", "Відділ продажів"),
    ("СтруктурнаяЕдиницаРезерв_Key", "", "Catalog_СтруктурныеЕдиницы", "Основний склад"),
    ("ЕдиницаИзмерения", "Запасы", "Catalog_КлассификаторЕдиницИзмерения", "шт"),
    ("СтавкаНДС_Key", "Запасы", "Catalog_СтавкиНДС", "20%"),
)
# KeyCRM status → BAS order state (created in BAS when the base lacks it).
STATE_FOR_STATUS = {
    "Нове": "Новий",
    "Підтверджено": "В роботі",
    "Відправлено": "Відправлено",
    "Виконано": "Завершено",
    "Скасовано": "Скасовано",
}


@dataclasses.dataclass
class DemoSetup:
    account: KeyCrmAccount
    backfill: BackfillJob | None
    webhook_url: str


def demo_configure(*, keycrm_url: str, bas_url: str, portal_url: str) -> DemoSetup:
    """Point a demo account at the emulators (``keycrm_url`` is the API root, e.g.
    ``http://127.0.0.1:8702/v1``; ``bas_url`` the base's publication, e.g.
    ``http://127.0.0.1:8701/sb``) and start the history backfill."""
    connection, _ = BasConnection.objects.get_or_create(
        name=DEMO_CONNECTION,
        defaults={"publication_url": bas_url, "username": DEMO_BAS_USER,
                  "configuration": "small_business"})
    connection.publication_url = bas_url
    connection.set_password(DEMO_BAS_PASSWORD)
    connection.save()
    account = KeyCrmAccount.objects.filter(name=DEMO_ACCOUNT).first()
    fresh = account is None
    if account is None:
        account = KeyCrmAccount(name=DEMO_ACCOUNT)
    account.api_base_url = keycrm_url
    account.set_api_key(DEMO_KEYCRM_KEY)
    account.bas_connection = connection
    account.save()
    webhook_url = f"{portal_url.rstrip('/')}/hooks/keycrm/{account.webhook_token}/"
    if not fresh:
        return DemoSetup(account=account, backfill=None, webhook_url=webhook_url)

    bas = BasClient.for_connection(connection)
    try:
        profile = profile_apply_preset(account=account, preset_key="small_business_order").profile
        for attribute, section, catalog, description in FIXED_VALUES:
            FieldMapping.objects.filter(profile=profile, attribute__name=attribute,
                                        attribute__section=section).update(
                value=_find(bas, catalog, description))
        # The demo shop's catalogue comes from KeyCRM: it is imported into BAS as a
        # nomenclature tree first, and an item seen for the first time in an order is created.
        settings, _ = CatalogueSettings.objects.update_or_create(account=account, defaults={
            "unit_ref": _find(bas, "Catalog_КлассификаторЕдиницИзмерения", "шт"),
            "category_ref": _find(bas, "Catalog_КатегорииНоменклатуры", "Товари"),
            "vat_rate_ref": _find(bas, "Catalog_СтавкиНДС", "20%")})
        keycrm = KeyCrmClient.for_account(account)
        try:
            catalog_to_bas(account=account, settings=settings, keycrm=keycrm, bas=bas)
        finally:
            keycrm.close()
        FieldMapping.objects.filter(profile=profile, attribute__name="Номенклатура_Key",
                                    attribute__section="Запасы").update(create_if_missing=True)
        directories_sync(account=account, directories=[KeyCrmDirectory.ORDER_STATUS])
        for status in directory_entries(account=account, directory=KeyCrmDirectory.ORDER_STATUS):
            state_name = STATE_FOR_STATUS.get(status.name)
            if state_name is None:
                continue  # left unmapped on purpose: the dashboard shows what that looks like
            StatusCorrespondence.objects.update_or_create(
                account=account, keycrm_status_id=status.keycrm_id,
                defaults={"keycrm_status_name": status.name, "bas_entity_set": STATES,
                          "bas_value": _state(bas, state_name),
                          "bas_presentation": state_name})
    finally:
        bas.close()
    with transaction.atomic():
        PollCursor.objects.update_or_create(account=account,
                                            defaults={"enabled": True, "interval_seconds": 60})
        job = backfill_start(account=account,
                             since=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    return DemoSetup(account=account, backfill=job, webhook_url=webhook_url)


def _find(bas: BasClient, catalog: str, description: str) -> str:
    found = bas.list(catalog, filter=f"Description eq {literals.string(description)}", top=2,
                     select=["Ref_Key"])
    if len(found) != 1:
        raise LookupError(f"the demo base should have exactly one «{description}» in {catalog}, "
                          f"found {len(found)}")
    return found[0]["Ref_Key"]


def _state(bas: BasClient, name: str) -> str:
    condition = f"Description eq {literals.string(name)}"
    found = bas.list(STATES, filter=condition, top=1, select=["Ref_Key"])
    if found:
        return found[0]["Ref_Key"]
    return bas.create(STATES, {"Description": name}, verify_filter=condition)["Ref_Key"]
