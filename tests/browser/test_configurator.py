"""A configurator sets up the portal in a browser, the way a person would: a connection and
an account with their checks, the document, its attributes, a field mapping, a status
correspondence, and the preview of a real order."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.models import BasConnection, KeyCrmAccount
from mappings.models import DocumentProfile, StatusCorrespondence
from mappings.tasks import sync_account_directories
from runs.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


def _save_and_continue(page) -> None:
    page.click("input[name=_continue]")
    page.wait_for_load_state()


def test_a_configurator_walks_through_the_set_up(page, live_server, keycrm, bas):
    User.objects.create_superuser("integrator", "", "integrator-pw")
    ids = keycrm.seed({"statuses": [{"name": "Нове"}, {"name": "Підтверджено"}],
                       "sources": [{"name": "Сайт", "currency_code": "UAH"}]})
    order_id = keycrm.seed({"orders": [{
        "source_id": ids["sources"][0], "status_id": ids["statuses"][1],
        "buyer": {"full_name": "Олена Коваль", "phone": "+380671234567"},
        "buyer_comment": "Подзвоніть перед відправкою"}]})["orders"][0]
    admin = f"{live_server.url}/admin"

    # Log in.
    page.goto(f"{admin}/login/")
    page.fill("#id_username", "integrator")
    page.fill("#id_password", "integrator-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # A BAS connection, checked.
    page.goto(f"{admin}/accounts/basconnection/add/")
    page.fill("#id_name", "БАС Малий бізнес")
    page.fill("#id_publication_url", f"{bas.url}/sb")
    page.select_option("#id_configuration", "small_business")
    page.fill("#id_username", "Адміністратор")
    page.fill("#id_password", "secret")
    _save_and_continue(page)
    page.click("#check-connection")
    assert "accepts user “Адміністратор”" in page.inner_text(".messagelist")
    connection = BasConnection.objects.get()

    # A KeyCRM account sending its orders there, checked.
    page.goto(f"{admin}/accounts/keycrmaccount/add/")
    page.fill("#id_name", "Магазин")
    page.fill("#id_api_base_url", f"{keycrm.url}/v1")
    page.fill("#id_api_key", "test-key")
    page.select_option("#id_bas_connection", str(connection.pk))
    _save_and_continue(page)
    page.click("#check-connection")
    assert "The API key works" in page.inner_text(".messagelist")
    account = KeyCrmAccount.objects.get()

    # Its KeyCRM directories, synced (the statuses are then offered by name).
    page.goto(f"{admin}/accounts/keycrmaccount/")
    page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", "sync_directories_action")
    page.click("button[name=index]")
    # The sync runs in a worker (here: the test runs the task) and its page follows it.
    page.wait_for_selector("#run-progress")
    run = Run.objects.get(kind="directory_sync")
    sync_account_directories.apply(args=[account.pk, None, run.pk])
    page.wait_for_function(
        "document.getElementById('run-message').textContent.includes('Order statuses: 2')")

    # The document: chosen from what the base publishes, then its lines section.
    page.goto(f"{admin}/accounts/keycrmaccount/{account.pk}/change/")
    page.click("#setup-profile")
    page.select_option("#id_document_set", "Document_ЗаказПокупателя")
    _save_and_continue(page)
    page.select_option("#id_lines_section", "Запасы")
    _save_and_continue(page)
    page.click("#fill-attributes")
    assert "attribute(s) added" in page.inner_text(".messagelist")
    profile = DocumentProfile.objects.get()

    # Two mappings: the buyer's comment into Комментарий, the status into СостояниеЗаказа.
    page.click("#mappings-group .add-row a")
    page.select_option("#id_mappings-0-attribute", label="Комментарий (Edm.String)")
    page.select_option("#id_mappings-0-kind", "value")
    page.fill("#id_mappings-0-source_path", "buyer_comment")
    page.click("#mappings-group .add-row a")
    page.select_option("#id_mappings-1-attribute", label="СостояниеЗаказа (Edm.String)")
    page.select_option("#id_mappings-1-kind", "status")
    page.fill("#id_mappings-1-source_path", "status_id")
    _save_and_continue(page)
    assert profile.mappings.count() == 2

    # The status correspondence: the KeyCRM status from the mirror, the BAS state picked
    # from the live list.
    page.goto(f"{admin}/mappings/statuscorrespondence/add/")
    page.select_option("#id_account", str(account.pk))
    page.select_option("#id_keycrm_status_id", str(ids["statuses"][1]))
    page.fill("#id_bas_entity_set", "Catalog_СостоянияЗаказовПокупателей")
    page.fill("#id_bas_value", "роботі")
    page.click(".bas-pick")
    page.wait_for_selector(".bas-pick-list option")
    page.select_option(".bas-pick-list", index=0)
    assert page.input_value("#id_bas_presentation") == "В роботі"
    page.click("input[name=_save]")
    status = StatusCorrespondence.objects.get()
    in_progress = bas.reference("sb")["Catalog_СостоянияЗаказовПокупателей"]["in_progress"]
    assert (status.keycrm_status_name, status.bas_value) == ("Підтверджено", in_progress)

    # The preview of the real order: what would be written, nothing written.
    page.goto(f"{admin}/mappings/documentprofile/{profile.pk}/change/")
    page.click("#preview-link")
    page.fill("#id_order_id", str(order_id))
    page.click("#run-preview")
    body = page.inner_text("#plan-body")
    assert '"Комментарий": "Подзвоніть перед відправкою"' in body
    assert f'"СостояниеЗаказа": "{in_progress}"' in body
    assert "status correspondence: Підтверджено → В роботі" in page.inner_text("#plan-header")
    assert bas.requests(method="POST") == []
