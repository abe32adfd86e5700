"""The KeyCRM emulator keeps a payment's fiscal receipt data (``fiscal_status``, a live extra,
and ``fiscal_result``) and shows both with ``include=payments``."""

from __future__ import annotations

import requests

from tests.conftest import KEYCRM_TEST_KEY


def test_a_payment_shows_its_fiscal_status_and_result(keycrm):
    receipt = {"fiscal_code": "TEST-42", "receipt_url": "https://check.example/42"}
    order_id = keycrm.seed({"orders": [{"buyer": {"full_name": "Олена"}, "payments": [
        {"amount": 100, "status": "paid", "fiscal_status": "done", "fiscal_result": receipt},
        {"amount": 50, "status": "paid"}]}]})["orders"][0]
    answer = requests.get(f"{keycrm.url}/v1/order/{order_id}", params={"include": "payments"},
                          headers={"Authorization": f"Bearer {KEYCRM_TEST_KEY}"}, timeout=10)
    assert answer.status_code == 200
    payments = answer.json()["payments"]
    assert [(p["fiscal_status"], p["fiscal_result"]) for p in payments] == [
        ("done", receipt), (None, None)]
