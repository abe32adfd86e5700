"""The catalogue flows' settings per account and what each flow last wrote.

* ``CatalogueSettings``: which flows run and how often, the defaults a new BAS item needs, the
  BAS groups exported to KeyCRM, the price type and the cost source;
* ``CatalogueState``: per flow and element, the fingerprint of what was last written (and the
  ids on the other side), so that a rerun writes only what changed.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount


class CatalogueFlow(models.TextChoices):
    TO_BAS = "to_bas", _("Products KeyCRM → BAS")
    TO_KEYCRM = "to_keycrm", _("Products BAS → KeyCRM")
    PRICES = "prices", _("Prices BAS → KeyCRM")
    COST = "cost", _("Cost price BAS → KeyCRM")


class OfferMode(models.TextChoices):
    """BAS Accounting has no characteristics: what an offer with properties becomes there."""

    SEPARATE = "separate", _("Each offer a separate item")
    ONE_ITEM = "one_item", _("One item per product")


class CostSource(models.TextChoices):
    PRICE_TYPE = "price_type", _("A price type")
    REGISTER = "register", _("The cost register (Запасы: sum / quantity)")


class CatalogueSettings(models.Model):
    account = models.OneToOneField(KeyCrmAccount, on_delete=models.CASCADE,
                                   related_name="catalogue_settings", verbose_name=_("account"))
    # --- KeyCRM → BAS ---
    to_bas_enabled = models.BooleanField(_("products to BAS on schedule"), default=False)
    to_bas_interval = models.PositiveIntegerField(_("every (minutes)"), default=60)
    offer_mode = models.CharField(
        _("offers with properties in BAS Accounting"), max_length=16,
        choices=OfferMode.choices, default=OfferMode.SEPARATE,
        help_text=_("BAS Accounting has no characteristics."))
    item_type = models.CharField(_("item kind (ТипНоменклатуры)"), max_length=50,
                                 default="Запас", blank=True,
                                 help_text=_("BAS Small Business: Запас, Услуга…"))
    unit_ref = models.UUIDField(_("unit of a new item"), null=True, blank=True,
                                help_text=_("Ref_Key in Catalog_КлассификаторЕдиницИзмерения"))
    category_ref = models.UUIDField(
        _("nomenclature category of a new item"), null=True, blank=True,
        help_text=_("BAS Small Business: Ref_Key in Catalog_КатегорииНоменклатуры"))
    vat_rate_ref = models.UUIDField(_("VAT rate of a new item"), null=True, blank=True,
                                    help_text=_("BAS Small Business: Ref_Key in Catalog_СтавкиНДС"))
    vat_rate = models.CharField(_("VAT rate of a new item (BAS Accounting)"), max_length=16,
                                blank=True, default="НДС20",
                                help_text=_("НДС20, НДС7, НДС0, БезНДС…"))
    fill_full_name = models.BooleanField(_("fill the full name from the name"), default=True)
    # --- BAS → KeyCRM ---
    to_keycrm_enabled = models.BooleanField(_("products to KeyCRM on schedule"), default=False)
    to_keycrm_interval = models.PositiveIntegerField(_("every (minutes)"), default=60)
    export_groups = models.JSONField(
        _("BAS groups to export"), default=list, blank=True,
        help_text=_("Ref_Keys of nomenclature groups; their subgroups go too."))
    # --- prices and cost ---
    prices_enabled = models.BooleanField(_("prices to KeyCRM on schedule"), default=False)
    prices_interval = models.PositiveIntegerField(_("every (minutes)"), default=30)
    price_type_ref = models.UUIDField(_("price type"), null=True, blank=True)
    cost_enabled = models.BooleanField(_("cost price to KeyCRM on schedule"), default=False)
    cost_interval = models.PositiveIntegerField(_("every (minutes)"), default=120)
    cost_source = models.CharField(_("cost source"), max_length=16, choices=CostSource.choices,
                                   default=CostSource.PRICE_TYPE)
    cost_price_type_ref = models.UUIDField(_("cost price type"), null=True, blank=True)
    # --- when each flow last started (the scheduler's clock) ---
    to_bas_last_run = models.DateTimeField(null=True, blank=True, editable=False)
    to_keycrm_last_run = models.DateTimeField(null=True, blank=True, editable=False)
    prices_last_run = models.DateTimeField(null=True, blank=True, editable=False)
    cost_last_run = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("catalogue settings")
        verbose_name_plural = _("catalogue settings")

    def __str__(self) -> str:
        return str(self.account)


class CatalogueState(models.Model):
    """What a flow last wrote for one element: ``key`` names the element on the source side
    (a KeyCRM id, a BAS Ref_Key, ``item/characteristic``), ``fingerprint`` the content."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="catalogue_states")
    kind = models.CharField(_("kind"), max_length=32)
    key = models.CharField(_("element"), max_length=80)
    bas_ref = models.UUIDField(null=True, blank=True)
    bas_characteristic_ref = models.UUIDField(null=True, blank=True)
    keycrm_id = models.BigIntegerField(null=True, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    fingerprint = models.CharField(_("last written"), max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("catalogue state")
        verbose_name_plural = _("catalogue states")
        constraints = [models.UniqueConstraint(fields=["account", "kind", "key"],
                                               name="catalogue_state_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
