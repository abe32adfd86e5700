"""Checks of the API's answers against its own OpenAPI 3.0 document: the document itself
against the OpenAPI 3.0 meta-schema, and each answer against the schema of its operation."""

from __future__ import annotations

import json
import re
from typing import Any

from drf_spectacular.validation import validate_schema
from openapi_schema_validator import OAS30Validator

from tests.contract.openapi import _resolve


class ApiSchema:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: list[tuple[str, re.Pattern[str], dict[str, Any]]] = []
        for template, item in document["paths"].items():
            pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"[^/]+", re.escape(template)))
            for method, operation in item.items():
                self.operations.append((method.upper(), pattern, operation))

    def meta_errors(self) -> None:
        """Raises when the document is not valid OpenAPI 3.0."""
        validate_schema(self.document)

    def operation(self, method: str, path: str) -> dict[str, Any]:
        for known_method, pattern, operation in self.operations:
            if known_method == method and pattern.fullmatch(path):
                return operation
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")

    def response_errors(self, method: str, path: str, status: int, content_type: str,
                        body: bytes) -> list[str]:
        """Why the answer does not match the document ([] when it does). Refusals (401, 403)
        and 4xx errors are DRF's standard shapes and not described per operation."""
        operation = self.operation(method, path)
        responses = operation["responses"]
        if str(status) not in responses:
            if status in {400, 401, 403, 404}:
                return []
            return [f"{method} {path}: status {status} is not documented ({list(responses)})"]
        media = content_type.split(";")[0].strip()
        content = responses[str(status)].get("content", {})
        if media not in content:
            return [f"{method} {path}: {media} is not documented ({list(content)})"]
        schema = _resolve(content[media]["schema"], self.document)
        if media != "application/json":
            return []
        validator = OAS30Validator(schema)
        return [f"{method} {path} → {status} at /{'/'.join(map(str, e.absolute_path))}: "
                f"{e.message[:200]}" for e in validator.iter_errors(json.loads(body))]
