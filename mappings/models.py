"""How a KeyCRM order becomes a BAS document, as data an integrator edits in the admin.

* ``DirectoryEntry``: mirrors of KeyCRM's directories (statuses, sources, products…) per account;
* ``Correspondence``: the register (account, KeyCRM directory, KeyCRM id) ↔ (BAS set, Ref_Key),
  also for buyers, orders and payments once they are linked;
* ``DocumentProfile`` with its ``ProfileAttribute`` rows (read from ``$metadata``) and the
  ``FieldMapping`` rows that fill them;
* ``StatusCorrespondence``: KeyCRM status ↔ BAS order state, both ways.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount
from integration.bas.metadata import AttributeKind


class KeyCrmDirectory(models.TextChoices):
    ORDER_STATUS = "order_status", _("Order statuses")
    SOURCE = "source", _("Sources (sales channels)")
    PAYMENT_METHOD = "payment_method", _("Payment methods")
    DELIVERY_SERVICE = "delivery_service", _("Delivery services")
    CATEGORY = "category", _("Product categories")
    PRODUCT = "product", _("Products")
    OFFER = "offer", _("Offers (product variants)")
    CUSTOM_FIELD = "custom_field", _("Custom fields")
    MANAGER = "manager", _("Managers")
    # Kept only in the correspondence register (linked one by one, not mirrored):
    BUYER = "buyer", _("Buyers")
    COMPANY = "company", _("Companies")
    ORDER = "order", _("Orders")
    PAYMENT = "payment", _("Payments")


MIRRORED_DIRECTORIES = (
    KeyCrmDirectory.ORDER_STATUS,
    KeyCrmDirectory.SOURCE,
    KeyCrmDirectory.PAYMENT_METHOD,
    KeyCrmDirectory.DELIVERY_SERVICE,
    KeyCrmDirectory.CATEGORY,
    KeyCrmDirectory.PRODUCT,
    KeyCrmDirectory.OFFER,
    KeyCrmDirectory.CUSTOM_FIELD,
    KeyCrmDirectory.MANAGER,
)


class DirectoryEntry(models.Model):
    """One element of a KeyCRM directory as the last sync saw it."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="directory_entries", verbose_name=_("account"))
    directory = models.CharField(_("directory"), max_length=32, choices=KeyCrmDirectory.choices)
    keycrm_id = models.BigIntegerField(_("KeyCRM id"))
    name = models.CharField(_("name"), max_length=255, blank=True)
    # A category's parent category; an offer's product.
    parent_keycrm_id = models.BigIntegerField(_("parent KeyCRM id"), null=True, blank=True)
    sku = models.CharField(_("SKU"), max_length=150, blank=True)
    data = models.JSONField(_("as KeyCRM sent it"), default=dict, blank=True)
    is_active = models.BooleanField(
        _("present in KeyCRM"), default=True,
        help_text=_("Cleared when the last sync no longer found the element."))
    synced_at = models.DateTimeField(_("synced"), null=True, blank=True)

    class Meta:
        verbose_name = _("KeyCRM directory element")
        verbose_name_plural = _("KeyCRM directories")
        ordering = ["account", "directory", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "directory", "keycrm_id"],
                                    name="directory_entry_unique"),
        ]
        indexes = [models.Index(fields=["account", "directory", "sku"], name="directory_sku")]

    def __str__(self) -> str:
        return f"{self.get_directory_display()}: {self.name or self.keycrm_id}"


class CorrespondenceOrigin(models.TextChoices):
    MANUAL = "manual", _("Set by a person")
    MATCHED = "matched", _("Found by search")
    CREATED = "created", _("Created in BAS by the portal")
    IMPORTED = "imported", _("Created in KeyCRM by the portal")


class Correspondence(models.Model):
    """(account, KeyCRM directory, KeyCRM id) ↔ (BAS entity set, Ref_Key)."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="correspondences", verbose_name=_("account"))
    directory = models.CharField(_("KeyCRM directory"), max_length=32,
                                 choices=KeyCrmDirectory.choices)
    keycrm_id = models.BigIntegerField(_("KeyCRM id"))
    bas_entity_set = models.CharField(_("BAS object"), max_length=150,
                                      help_text=_("e.g. Catalog_Контрагенты"))
    bas_ref = models.UUIDField(_("BAS reference (Ref_Key)"))
    bas_characteristic_ref = models.UUIDField(
        _("BAS characteristic"), null=True, blank=True,
        help_text=_("For offers with properties (size, colour…): the nomenclature's "
                    "characteristic."))
    bas_presentation = models.CharField(_("BAS name"), max_length=255, blank=True)
    origin = models.CharField(_("origin"), max_length=16, choices=CorrespondenceOrigin.choices,
                              default=CorrespondenceOrigin.MANUAL)
    note = models.CharField(_("note"), max_length=500, blank=True,
                            help_text=_("How the match was made, e.g. the phone searched."))
    keycrm_updated_at = models.DateTimeField(
        _("KeyCRM state applied"), null=True, blank=True,
        help_text=_("The KeyCRM element's updated_at when it was last written to BAS: an "
                    "older state is never written over a newer one."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("correspondence")
        verbose_name_plural = _("correspondence register")
        ordering = ["account", "directory", "keycrm_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "directory", "keycrm_id"],
                                    name="correspondence_unique"),
        ]
        indexes = [
            models.Index(fields=["account", "bas_entity_set", "bas_ref"],
                         name="correspondence_by_bas"),
        ]

    def __str__(self) -> str:
        return (f"{self.get_directory_display()} #{self.keycrm_id} → "
                f"{self.bas_presentation or self.bas_ref}")


class DocumentProfile(models.Model):
    """Which BAS document an account's orders become, and where the lines go."""

    account = models.OneToOneField(KeyCrmAccount, on_delete=models.CASCADE,
                                   related_name="document_profile", verbose_name=_("account"))
    document_set = models.CharField(
        _("BAS document"), max_length=150,
        help_text=_("Customer order (e.g. Document_ЗаказПокупателя) or sales invoice "
                    "(e.g. Document_РеализацияТоваровУслуг), as the base publishes it."))
    lines_section = models.CharField(
        _("tabular section for order lines"), max_length=150, blank=True,
        help_text=_("e.g. Запасы or Товары"))
    post_documents = models.BooleanField(_("post documents"), default=True)
    order_id_attribute = models.CharField(
        _("attribute holding the KeyCRM order number"), max_length=150, blank=True,
        default="НомерВходящегоДокумента",
        help_text=_("A text attribute of the document. The portal finds an order's document "
                    "by it, so a lost answer never creates a second document."))
    order_id_template = models.CharField(
        _("KeyCRM order number format"), max_length=50, default="KC-{id}",
        help_text=_("How the KeyCRM order id is written into that attribute; {id} is the id."))
    document_script = models.TextField(
        _("document script"), blank=True,
        help_text=_("Runs on the filled, unsaved document: assign doc[\"Attribute\"] or "
                    "change lines. A safe subset of Python; see the help below."))
    attributes_filled_at = models.DateTimeField(_("attributes read"), null=True, blank=True,
                                                editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("document profile")
        verbose_name_plural = _("document profiles")

    def __str__(self) -> str:
        return f"{self.account}: {self.document_set}"

    def order_number(self, order_id: int | str) -> str:
        return self.order_id_template.replace("{id}", str(order_id))


class ProfileAttribute(models.Model):
    """A header attribute or a column of the lines section, as ``$metadata`` describes it."""

    HEADER = ""

    profile = models.ForeignKey(DocumentProfile, on_delete=models.CASCADE,
                                related_name="attributes")
    section = models.CharField(_("section"), max_length=150, blank=True,
                               help_text=_("Empty for the header, else the tabular section."))
    name = models.CharField(_("attribute"), max_length=150)
    edm_type = models.CharField(_("type"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16,
                            choices=[(kind.value, kind.value) for kind in AttributeKind])

    class Meta:
        verbose_name = _("document attribute")
        verbose_name_plural = _("document attributes")
        ordering = ["profile", "section", "name"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "section", "name"],
                                    name="profile_attribute_unique"),
        ]

    def __str__(self) -> str:
        where = f"{self.section}." if self.section else ""
        return f"{where}{self.name} ({self.edm_type})"

    @property
    def is_line(self) -> bool:
        return bool(self.section)


class MappingKind(models.TextChoices):
    VALUE = "value", _("Value from the order (path)")
    DIRECTORY = "directory", _("Reference through the correspondence register")
    SEARCH = "search", _("Reference found by searching a BAS catalog")
    STATUS = "status", _("Order state through the status correspondence")
    EXPRESSION = "expression", _("Computed by an expression")
    CONSTANT = "constant", _("Fixed value")


class FieldMapping(models.Model):
    """How one attribute (or line column) of the document gets its value."""

    profile = models.ForeignKey(DocumentProfile, on_delete=models.CASCADE,
                                related_name="mappings")
    attribute = models.ForeignKey(ProfileAttribute, on_delete=models.CASCADE,
                                  related_name="mappings", verbose_name=_("BAS attribute"))
    kind = models.CharField(_("kind"), max_length=16, choices=MappingKind.choices)
    source_path = models.CharField(
        _("path in the order"), max_length=300, blank=True,
        help_text=_("e.g. buyer.full_name, marketing.utm_campaign, products[].price_sold, "
                    "custom_fields[uuid=OR_1012].value. For references: the path of the "
                    "KeyCRM id, e.g. source_id or products[].offer.id."))
    directory = models.CharField(
        _("KeyCRM directory"), max_length=32, choices=KeyCrmDirectory.choices, blank=True,
        help_text=_("For references: which KeyCRM directory the id belongs to. For values: "
                    "write the name of that directory's element whose id is at the path."))
    bas_entity_set = models.CharField(
        _("BAS catalog"), max_length=150, blank=True,
        help_text=_("For references: the catalog searched or referred to, e.g. "
                    "Catalog_Контрагенты."))
    search_steps = models.JSONField(
        _("search fields"), default=list, blank=True,
        help_text=_("Tried in order until one finds exactly one element: "
                    "[{\"field\": \"КодПоЕДРПОУ\", \"source\": \"buyer.company.tax_id\", "
                    "\"normalize\": \"digits\"}]. normalize: text, phone, email, digits."))
    create_if_missing = models.BooleanField(
        _("create when not found"), default=False,
        help_text=_("Plan the creation of the element (e.g. a new counterparty) instead of "
                    "stopping."))
    expression = models.TextField(_("expression"), blank=True)
    value = models.CharField(
        _("fixed value"), max_length=500, blank=True,
        help_text=_("For fixed values: the text, number, true/false, or the Ref_Key of a "
                    "BAS element."))
    default_value = models.CharField(
        _("default"), max_length=500, blank=True,
        help_text=_("Used when the order has nothing at the path. Never used to paper over "
                    "a reference that was searched and not found."))
    position = models.PositiveIntegerField(_("order of evaluation"), default=0)

    class Meta:
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")
        ordering = ["profile", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "attribute"],
                                    name="one_mapping_per_attribute"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute} ← {self.get_kind_display()}"


class StatusCorrespondence(models.Model):
    """KeyCRM order status ↔ BAS order state. Unique both ways so that it can be read in
    either direction."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="status_correspondences")
    keycrm_status_id = models.BigIntegerField(_("KeyCRM status id"))
    keycrm_status_name = models.CharField(_("KeyCRM status"), max_length=255, blank=True)
    bas_value = models.CharField(
        _("BAS state"), max_length=150,
        help_text=_("The Ref_Key of the state element (BAS Small Business), or the enum "
                    "member (BAS ERP/UT: НеСогласован, КОбеспечению, КОтгрузке, Закрыт)."))
    bas_entity_set = models.CharField(
        _("BAS state catalog"), max_length=150, blank=True,
        help_text=_("e.g. Catalog_СостоянияЗаказовПокупателей; empty for an enum."))
    bas_presentation = models.CharField(_("BAS state name"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("status correspondence")
        verbose_name_plural = _("status correspondence")
        ordering = ["account", "keycrm_status_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "keycrm_status_id"],
                                    name="status_keycrm_unique"),
            models.UniqueConstraint(fields=["account", "bas_entity_set", "bas_value"],
                                    name="status_bas_unique"),
        ]

    def __str__(self) -> str:
        return (f"{self.keycrm_status_name or self.keycrm_status_id} ↔ "
                f"{self.bas_presentation or self.bas_value}")


class PropertyMapping(models.Model):
    """One row of the document's additional-properties tabular section (BAS keeps extra deal
    characteristics there: delivery method, sales channel, campaign…). Each mapping adds a row
    ``{<property column>: property, <value column>: value}`` when the value is not empty."""

    profile = models.ForeignKey(DocumentProfile, on_delete=models.CASCADE,
                                related_name="property_mappings")
    section = models.CharField(_("tabular section"), max_length=150,
                               default="ДополнительныеРеквизиты")
    property_column = models.CharField(_("property column"), max_length=150,
                                       default="Свойство_Key")
    value_column = models.CharField(_("value column"), max_length=150, default="Значение")
    property_ref = models.UUIDField(
        _("property"), help_text=_("The Ref_Key of the additional property in BAS."))
    property_name = models.CharField(_("property name"), max_length=255, blank=True)
    kind = models.CharField(
        _("kind"), max_length=16,
        choices=[(MappingKind.VALUE, MappingKind.VALUE.label),
                 (MappingKind.EXPRESSION, MappingKind.EXPRESSION.label)],
        default=MappingKind.VALUE)
    source_path = models.CharField(_("path in the order"), max_length=300, blank=True)
    directory = models.CharField(
        _("KeyCRM directory"), max_length=32, choices=KeyCrmDirectory.choices, blank=True,
        help_text=_("Set it to write the name of the directory element whose id is at the "
                    "path (e.g. the source's name for source_id)."))
    expression = models.TextField(_("expression"), blank=True)
    position = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("additional property mapping")
        verbose_name_plural = _("additional property mappings")
        ordering = ["profile", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "section", "property_ref"],
                                    name="one_mapping_per_property"),
        ]

    def __str__(self) -> str:
        return f"{self.section}: {self.property_name or self.property_ref}"
