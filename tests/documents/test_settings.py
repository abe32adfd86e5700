"""What the payment settings and document rules refuse when saved: trigger statuses that are
not a list of ids, and retail receipts together with payment documents (money counted twice)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from documents.models import DocumentRule, FiscalTarget, FollowupSettings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("ids", [["4a"], 4, "4, 9", [4.5], [True], [[4]], {"4": 9}])
def test_a_rule_refuses_statuses_that_are_not_a_list_of_ids(keycrm_account, ids):
    rule = DocumentRule(account=keycrm_account, action="ship", keycrm_status_ids=ids)
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert refused.value.message_dict == {"keycrm_status_ids": [
        "Write the KeyCRM status ids as a list of whole numbers, e.g. [4, 9]."]}


def test_a_rule_with_a_list_of_ids_is_saved_and_triggers(keycrm_account):
    rule = DocumentRule(account=keycrm_account, action="ship", keycrm_status_ids=[4, 9])
    rule.full_clean()
    rule.save()
    assert (rule.triggered_by(9), rule.triggered_by(5)) == (True, False)


def test_the_admin_refuses_a_typo_in_the_statuses(admin_client, keycrm_account):
    response = admin_client.post(reverse("admin:documents_documentrule_add"), {
        "account": keycrm_account.pk, "action": "ship", "enabled": "on",
        "keycrm_status_ids": '["4a"]', "warehouse_ref": "", "cancel_reason_ref": "",
        "post_documents": "on"})
    assert response.status_code == 200
    assert "list of whole numbers" in response.content.decode()
    assert not DocumentRule.objects.exists()


def test_retail_receipts_are_refused_while_payments_go_to_bas(shop, bas):
    register = bas.seed("sb", {"Catalog_КассыККМ": [{"Description": "ПРРО"}]})[
        "Catalog_КассыККМ"][0]
    settings = FollowupSettings(account=shop.account, payments_to_bas=True,
                                fiscal_target=FiscalTarget.RETAIL_RECEIPT,
                                receipt_cash_register_ref=register)
    with pytest.raises(ValidationError) as refused:
        settings.full_clean()
    [text] = refused.value.message_dict["fiscal_target"]
    assert "count the same payment twice" in text
    settings.payments_to_bas = False
    settings.full_clean()
