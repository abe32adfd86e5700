"""The OpenAPI document is valid OpenAPI 3.0 and describes every endpoint the API has."""

from __future__ import annotations

import pytest
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def test_the_document_is_valid_openapi_3(api_schema):
    assert api_schema.document["openapi"].startswith("3.0")
    api_schema.meta_errors()  # raises jsonschema.ValidationError when not


def test_every_api_route_is_documented(api_schema):
    routes = {
        "/api/" + str(pattern.pattern).replace("<int:pk>", "{id}")
        for pattern in get_resolver().url_patterns
        if str(pattern.pattern) == "api/"
        for pattern in pattern.url_patterns
        if str(pattern.pattern) != "schema/"
    }

    assert routes == set(api_schema.document["paths"])


def test_every_operation_requires_authentication(api_schema):
    for path, item in api_schema.document["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}], (
                method, path)


def test_the_record_filters_are_documented_as_query_parameters(api_schema):
    operation = api_schema.operation("GET", "/api/v1/records/")

    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert names >= {"account", "state", "source", "event", "order", "received_from",
                     "received_until", "page", "page_size"}
