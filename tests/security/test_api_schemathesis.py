"""Schemathesis against the portal's own OpenAPI document: every operation, with generated
parameters and bodies, answered by the real server (a live server on the test database), must
never fail with a 5xx and must answer as the document says (status codes, content types,
response bodies). Calls are made as a superuser holding a token, so that every operation is
reached; the role checks are in ``tests/api/test_roles.py``."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import positive_data_acceptance

from staging.models import InboundRecord, RecordSource, RecordState


@pytest.fixture
def api_schema(transactional_db):
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document, default=str)))


@pytest.fixture
def superuser_token(transactional_db, keycrm_account) -> str:
    user = User.objects.create_superuser("fuzzer", password="x" * 20)
    for state in (RecordState.DONE, RecordState.WAITING):
        InboundRecord.objects.create(account=keycrm_account, source=RecordSource.WEBHOOK,
                                     event="order.change_order_status", keycrm_order_id=7,
                                     body="{}", payload={}, state=state)
    return Token.objects.create(user=user).key


def test_every_operation_answers_as_its_document_says(api_schema, live_server,
                                                     superuser_token):
    headers = {"Authorization": f"Token {superuser_token}", "Accept-Language": "en"}
    tried, failures = [], []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case) -> None:
            # A filter range whose end is before its start is schema-valid and rightly refused:
            # OpenAPI cannot say that one parameter must follow another.
            case.call_and_validate(base_url=live_server.url, headers=headers,
                                   excluded_checks=[positive_data_acceptance])

        try:
            answers_as_documented()
        except Exception as exc:  # collect every operation's findings, then fail once
            failures.append(f"{operation.label}: {exc}")
        tried.append(operation.label)
    print(f"schemathesis: {len(tried)} operations: {', '.join(tried)}")
    assert not failures, "\n\n".join(failures)
    assert len(tried) >= 6
