"""What the API answers, and the query and body parameters it accepts."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from staging.models import Attempt, Exchange, InboundRecord, RecordSource, RecordState

MAX_IDS = 1000



# The largest id a database column holds: a bigger number is a 400, not an overflow.
MAX_ID = 2**63 - 1

# --- health ------------------------------------------------------------
class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class LoopHealthSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_("webhooks, polling, processing, outbox, …"))
    name = serializers.CharField()
    account_id = serializers.IntegerField()
    account_name = serializers.CharField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    interval_seconds = serializers.FloatField(
        allow_null=True, help_text=_("How often it should succeed; null when it has no rhythm."))
    silent = serializers.BooleanField(
        help_text=_("No success for more than three of its intervals."))


class HealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text=_("The database and the broker answer."))
    checked_at = serializers.DateTimeField()
    checks = CheckSerializer(many=True)
    loops = LoopHealthSerializer(many=True)


# --- records ------------------------------------------------------------
class RecordFilterSerializer(serializers.Serializer):
    """The filters of the record list (query parameters) and of bulk re-processing (body)."""

    account = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                       help_text=_("KeyCRM account id"))
    state = serializers.ListField(child=serializers.ChoiceField(choices=RecordState.choices),
                                  required=False, help_text=_("one or more states"))
    source = serializers.ChoiceField(choices=RecordSource.choices, required=False)
    event = serializers.CharField(required=False, max_length=64,
                                  help_text=_("e.g. order.change_order_status"))
    order = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                     help_text=_("KeyCRM order id"))
    received_from = serializers.DateField(
        required=False, help_text=_("received on or after this day (portal time zone)"))
    received_until = serializers.DateField(
        required=False, help_text=_("received on or before this day (portal time zone)"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("received_from"), attrs.get("received_until")
        if since and until and since > until:
            raise serializers.ValidationError(
                {"received_until": _("The end of the range is before its start.")})
        return attrs

    def selector_kwargs(self) -> dict[str, Any]:
        """The validated filters as ``api.selectors.records_filtered`` takes them."""
        data = self.validated_data
        return {"account_id": data.get("account"), "states": data.get("state", []),
                "source": data.get("source"), "event": data.get("event"),
                "order_id": data.get("order"), "received_from": data.get("received_from"),
                "received_until": data.get("received_until"), "ids": data.get("ids", [])}


class ReprocessRequestSerializer(RecordFilterSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                required=False, max_length=MAX_IDS, help_text=_("record ids"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not any(attrs.get(name) for name in self.fields):
            # Like ``manage.py reprocess``: an empty body never re-queues the whole history.
            raise serializers.ValidationError(
                _("Say which records to re-process: ids and/or filters (e.g. "
                  "{\"state\": [\"waiting\"]}). Refusing to re-queue every record."))
        return attrs


class ReprocessResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    requeued = serializers.IntegerField()
    skipped = serializers.IntegerField(
        help_text=_("in processing, duplicates or ignored: left as they are"))


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["id", "worker", "started_at", "finished_at", "outcome", "message"]


class ExchangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Exchange
        fields = ["id", "system", "method", "url", "status", "duration_ms", "error",
                  "request_body", "response_body", "created_at"]


class RecordSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = InboundRecord
        fields = ["id", "account", "account_name", "source", "event", "keycrm_order_id",
                  "state", "message", "problem_kind", "attempts", "received_at",
                  "not_before", "processed_at", "duplicate_of", "bas_document_set",
                  "bas_document_ref", "bas_document_number"]
        read_only_fields = fields


class RecordDetailSerializer(RecordSerializer):
    attempts_made = AttemptSerializer(source="attempt_set", many=True, read_only=True)
    exchanges = ExchangeSerializer(source="newest_exchanges", many=True, read_only=True,
                                   help_text=_("the newest 50 HTTP exchanges"))

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "dedupe_key", "order_updated_at",
                  "claimed_at", "claimed_by", "headers", "body", "payload", "attempts_made",
                  "exchanges"]
        read_only_fields = fields


# --- outbox ------------------------------------------------------------
class ResendRequestSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                min_length=1, max_length=MAX_IDS, help_text=_("outbox message ids"))


class ResendResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    skipped = serializers.IntegerField(
        help_text=_("being sent, replaced, or with a newer message already queued"))


# --- configuration ------------------------------------------------------------
class ExportQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text=_("only this KeyCRM account and the BAS connection it uses"))
    file_format = serializers.ChoiceField(choices=[("json", "JSON"), ("yaml", "YAML")],
                                          default="json")
