"""The profile pages of the admin: choosing the document from $metadata, filling attributes,
presets, the preview, mapping validation and the "Pick from BAS…" list."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from mappings.models import DirectoryEntry, DocumentProfile, FieldMapping, ProfileAttribute
from mappings.services.profiles import profile_apply_preset

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_account(keycrm_account, bas_connection):
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    return keycrm_account


def test_the_add_page_offers_the_documents_the_base_publishes(admin_client, linked_account):
    page = admin_client.get(reverse("admin:mappings_documentprofile_add")
                            + f"?account={linked_account.pk}").content.decode()
    assert '<option value="Document_ЗаказПокупателя">' in page
    assert '<option value="Document_РасходнаяНакладная">' in page
    assert "Document_ЗаказПокупателя_Запасы" not in page  # a tabular section, not a document


def test_fill_attributes_then_map_then_preview(admin_client, linked_account, keycrm, bas):
    response = admin_client.post(reverse("admin:mappings_documentprofile_add"), {
        "account": linked_account.pk, "document_set": "Document_ЗаказПокупателя",
        "lines_section": "", "order_id_attribute": "НомерВходящегоДокумента",
        "order_id_template": "KC-{id}", "post_documents": "on",
        "mappings-TOTAL_FORMS": 0, "mappings-INITIAL_FORMS": 0,
        "property_mappings-TOTAL_FORMS": 0, "property_mappings-INITIAL_FORMS": 0,
        "attributes-TOTAL_FORMS": 0, "attributes-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    profile = DocumentProfile.objects.get(account=linked_account)
    page = admin_client.post(reverse("admin:mappings_documentprofile_fill", args=[profile.pk]),
                             follow=True).content.decode()
    assert "attribute(s) added" in page
    comment = ProfileAttribute.objects.get(profile=profile, section="", name="Комментарий")
    assert comment.edm_type == "Edm.String"
    FieldMapping.objects.create(profile=profile, attribute=comment, kind="value",
                                source_path="buyer_comment")
    page = admin_client.post(
        reverse("admin:mappings_documentprofile_preview", args=[profile.pk]),
        {"order_json": json.dumps({"id": 5, "buyer_comment": "Подзвоніть"})}).content.decode()
    assert "Ready to write" in page
    assert "&quot;Комментарий&quot;: &quot;Подзвоніть&quot;" in page
    assert bas.requests(method="POST") == []


def test_preview_fetches_the_order_from_keycrm_and_lists_problems(admin_client, linked_account,
                                                                   keycrm):
    ids = keycrm.seed({"statuses": [{"name": "Нове"}], "sources": [{"name": "Сайт"}]})
    order_id = keycrm.seed({"orders": [{"source_id": ids["sources"][0],
                                        "buyer": {"full_name": "Іван"}}]})["orders"][0]
    profile = profile_apply_preset(account=linked_account,
                                   preset_key="small_business_order").profile
    page = admin_client.post(
        reverse("admin:mappings_documentprofile_preview", args=[profile.pk]),
        {"order_id": order_id}).content.decode()
    assert "problems stop this order" in page
    assert "has no BAS state in the status correspondence" in page
    assert ("Организация_Key</strong>: the fixed value is empty: pick the Catalog_Организации "
            "element in the mapping") in page
    page = admin_client.post(
        reverse("admin:mappings_documentprofile_preview", args=[profile.pk]),
        {"order_id": 999999}).content.decode()
    assert "KeyCRM did not give order 999999" in page


def test_presets_are_applied_from_the_profile_page(admin_client, linked_account):
    profile = DocumentProfile.objects.create(account=linked_account,
                                             document_set="Document_ЗаказПокупателя")
    page = admin_client.post(reverse("admin:mappings_documentprofile_preset", args=[profile.pk]),
                             {"preset": "small_business_order"}, follow=True).content.decode()
    assert "mapping(s) from the preset" in page
    assert profile.mappings.count() == 25
    profile.refresh_from_db()
    assert profile.lines_section == "Запасы"


@pytest.mark.parametrize(("fields", "error"), [
    ({"kind": "value", "source_path": "buyer..x"}, "is not a field name"),
    ({"kind": "value", "source_path": ""}, "Give the path of the value"),
    ({"kind": "expression", "expression": "().__class__"}, "_"),
    ({"kind": "search", "bas_entity_set": ""}, "not a reference"),
])
def test_mapping_forms_refuse_mistakes_in_words(admin_client, linked_account, fields, error):
    profile = profile_apply_preset(account=linked_account,
                                   preset_key="small_business_order").profile
    mapping = profile.mappings.get(attribute__name="Комментарий")
    data = {"attribute": mapping.attribute_id, "kind": "value", "source_path": "",
            "directory": "", "bas_entity_set": "", "search_steps": "[]", "expression": "",
            "value": "", "default_value": "", "position": 0, **fields}
    page = admin_client.post(reverse("admin:mappings_fieldmapping_change", args=[mapping.pk]),
                             data)
    assert page.status_code == 200
    assert error in page.content.decode()


def test_pick_from_bas_lists_elements_live(admin_client, linked_account, bas):
    bas.seed("sb", {"Catalog_Контрагенты": [{"Description": "ТОВ Ромашка"},
                                            {"Description": "ФОП Петренко"}]})
    url = reverse("mappings_bas_elements")
    data = admin_client.get(url, {"account": linked_account.pk, "set": "Catalog_Контрагенты",
                                  "q": "ромаш"}).json()
    assert [e["name"] for e in data["elements"]] == ["ТОВ Ромашка"]
    refused = admin_client.get(url, {"account": linked_account.pk, "set": "Рахунки"})
    assert refused.status_code == 400
    assert "is not a catalog" in refused.json()["error"]


def test_pick_from_bas_needs_the_right(client, linked_account):
    User.objects.create_user("viewer", password="pw", is_staff=True)
    client.login(username="viewer", password="pw")
    response = client.get(reverse("mappings_bas_elements"),
                          {"account": linked_account.pk, "set": "Catalog_Контрагенты"})
    assert response.status_code == 403


def test_status_correspondence_picks_the_keycrm_status_from_the_mirror(admin_client,
                                                                      linked_account, bas):
    DirectoryEntry.objects.create(account=linked_account, directory="order_status",
                                  keycrm_id=4, name="Відправлено")
    page = admin_client.get(reverse("admin:mappings_statuscorrespondence_add")).content.decode()
    assert "Магазин: Відправлено (#4)" in page
    assert "data-bas-picker" in page
    in_progress = bas.reference("sb")["Catalog_СостоянияЗаказовПокупателей"]["in_progress"]
    response = admin_client.post(reverse("admin:mappings_statuscorrespondence_add"), {
        "account": linked_account.pk, "keycrm_status_id": 4, "keycrm_status_name": "",
        "bas_entity_set": "Catalog_СостоянияЗаказовПокупателей", "bas_value": in_progress,
        "bas_presentation": "В роботі"})
    assert response.status_code == 302
    saved = linked_account.status_correspondences.get()
    assert (saved.keycrm_status_name, saved.bas_value) == ("Відправлено", in_progress)


def test_the_order_number_attribute_is_required_and_explained(admin_client, linked_account):
    response = admin_client.post(reverse("admin:mappings_documentprofile_add"), {
        "account": linked_account.pk, "document_set": "Document_ЗаказПокупателя",
        "lines_section": "", "order_id_attribute": " ", "order_id_template": "KC",
        "mappings-TOTAL_FORMS": 0, "mappings-INITIAL_FORMS": 0,
        "property_mappings-TOTAL_FORMS": 0, "property_mappings-INITIAL_FORMS": 0,
        "attributes-TOTAL_FORMS": 0, "attributes-INITIAL_FORMS": 0,
    })
    page = response.content.decode()
    assert response.status_code == 200
    assert "could make a second document" in page
    assert "The format must contain {id}" in page
    assert not DocumentProfile.objects.exists()
