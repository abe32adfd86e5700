"""The contract checker itself finds violations (so a green contract test means something)."""

import json

import pytest

from tests.contract.openapi import Contract, spec_path


@pytest.fixture(scope="module")
def contract() -> Contract:
    if not spec_path().is_file():
        pytest.skip(f"KeyCRM OpenAPI document not found at {spec_path()}; set "
                    "KEYCRM_OPENAPI_SPEC")
    return Contract(spec_path())


def test_request_violations_are_found(contract):
    assert contract.check_request("GET", "/v1/order", "limit=51&page=1", b"") == [
        "GET /v1/order: query limit at /: 51 is greater than the maximum of 50"]
    assert contract.check_request("GET", "/v1/order", "colour=red", b"") == [
        "GET /v1/order: query parameter 'colour' is not documented"]
    body = json.dumps({"source_id": "one", "buyer": {"full_name": "X"}}).encode()
    assert contract.check_request("POST", "/v1/order", "", body) == [
        "POST /v1/order: request body at /source_id: 'one' is not of type 'integer'"]
    assert contract.check_request("GET", "/v1/warehouses", "", b"") == [
        "GET /v1/warehouses: not an operation of the OpenAPI document"]
    assert contract.check_request("PUT", "/v1/offers/stocks", "", b"") == [
        "PUT /v1/offers/stocks: the documented request body is missing"]


def test_response_violations_are_found(contract):
    page = {"total": "many", "current_page": 1, "per_page": 15, "data": []}
    problems = contract.check_response("GET", "/v1/order/status", 200, "application/json",
                                       json.dumps(page).encode())
    assert problems == [
        "GET /v1/order/status → 200: response body at /total: 'many' is not of type 'integer'"]
    assert contract.check_response("POST", "/v1/order", 200, "application/json", b"{}") == [
        "POST /v1/order → 200: status not documented (documented: 201, 401)"]


def test_known_document_defects_are_corrected(contract):
    assert contract.check_request("POST", "/v1/products/categories", "",
                                  json.dumps({"name": "Взуття"}).encode()) == []
    select = {"source_id": 1, "buyer": {"full_name": "X"},
              "custom_fields": [{"uuid": "OR_1", "value": ["a", "b"]}]}
    assert contract.check_request("POST", "/v1/order", "", json.dumps(select).encode()) == []
    nulls = {"id": 1, "closed_at": None, "promocode": None, "source_id": 1}
    assert contract.check_response("GET", "/v1/order/1", 200, "application/json",
                                   json.dumps(nulls).encode()) == []
