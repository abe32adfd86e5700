"""The HTTP API: thin views over services and selectors. Every view names the permissions it
needs (``api.permissions.PortalRole``); the roles that grant them are in ``api.roles``."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import KeyCrmAccount
from api import serializers as s
from api.permissions import PortalRole
from api.selectors import record_with_history, records_filtered
from api.services import portal_health
from mappings.services.transfer import configuration_dumps, configuration_export
from staging.models import InboundRecord, OutboxMessage, OutboxState
from staging.services.outbox import outbox_requeue
from staging.services.queue import records_requeue
from staging.services.selectors import record_ids_queued
from staging.tasks import enqueue_outbox_message, enqueue_record

VIEW_RECORDS = ("staging.view_inboundrecord",)


def _who(request: Request) -> str:
    return f"{request.user.get_username()} (API)"


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document, for the same people as the API itself."""

    permission_classes = [PortalRole]
    required_permissions = ("api.view_health",)


class HealthView(APIView):
    required_permissions = ("api.view_health",)

    @extend_schema(
        summary=_("Health of the portal and of each loop"),
        responses={200: s.HealthSerializer,
                   503: OpenApiResponse(s.HealthSerializer,
                                        description=_("The database or the broker is down."))})
    def get(self, request: Request) -> Response:
        health = portal_health()
        return Response(s.HealthSerializer(health).data,
                        status=status.HTTP_200_OK if health.ok
                        else status.HTTP_503_SERVICE_UNAVAILABLE)


@extend_schema(summary=_("Received records, newest first"), parameters=[s.RecordFilterSerializer],
               responses={200: s.RecordSerializer(many=True),
                          400: OpenApiResponse(description=_("A filter is not valid.")),
                          404: OpenApiResponse(description=_("There is no such page."))})
class RecordListView(generics.ListAPIView):
    required_permissions = VIEW_RECORDS
    serializer_class = s.RecordSerializer

    def get_queryset(self) -> Any:
        filters = s.RecordFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return records_filtered(**filters.selector_kwargs(), without_bodies=True)


class RecordDetailView(APIView):
    required_permissions = VIEW_RECORDS

    @extend_schema(summary=_("One record: what was received, its attempts and exchanges"),
                   responses={200: s.RecordDetailSerializer,
                              404: OpenApiResponse(
                                  description=_("No received record has this id."))})
    def get(self, request: Request, pk: int) -> Response:
        record = record_with_history(record_id=pk)
        if record is None:
            raise NotFound(_("No received record has this id."))
        return Response(s.RecordDetailSerializer(record).data)


def _reprocess(records: Any, *, who: str) -> dict[str, int]:
    ids = list(records.values_list("id", flat=True))
    requeued, skipped = records_requeue(records=InboundRecord.objects.filter(pk__in=ids)
                                        .only("id"), who=who)
    for record_id in record_ids_queued(ids=ids):
        enqueue_record(record_id)
    return {"matched": len(ids), "requeued": requeued, "skipped": skipped}


class ReprocessView(APIView):
    required_permissions = (*VIEW_RECORDS, "api.reprocess_records")

    @extend_schema(summary=_("Queue the selected records again"),
                   operation_id="records_reprocess",
                   request=s.ReprocessRequestSerializer,
                   responses={200: s.ReprocessResultSerializer,
                              400: OpenApiResponse(description=_(
                                  "The selection is empty or not valid."))})
    def post(self, request: Request) -> Response:
        selection = s.ReprocessRequestSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        records = records_filtered(**selection.selector_kwargs())
        return Response(_reprocess(records, who=_who(request)))


class RecordReprocessView(APIView):
    required_permissions = (*VIEW_RECORDS, "api.reprocess_records")

    @extend_schema(summary=_("Queue one record again"), request=None,
                   operation_id="record_reprocess",
                   responses={200: s.ReprocessResultSerializer,
                              404: OpenApiResponse(
                                  description=_("No received record has this id."))})
    def post(self, request: Request, pk: int) -> Response:
        records = InboundRecord.objects.filter(pk=pk)
        if not records.exists():
            raise NotFound(_("No received record has this id."))
        return Response(_reprocess(records, who=_who(request)))


class OutboxResendView(APIView):
    required_permissions = ("staging.view_outboxmessage", "api.resend_outbox")

    @extend_schema(summary=_("Send outbox messages to KeyCRM again"),
                   request=s.ResendRequestSerializer,
                   responses={200: s.ResendResultSerializer,
                              400: OpenApiResponse(description=_(
                                  "The list of message ids is empty or not valid."))})
    def post(self, request: Request) -> Response:
        selection = s.ResendRequestSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        ids = selection.validated_data["ids"]
        queued, skipped = outbox_requeue(messages=OutboxMessage.objects.filter(pk__in=ids),
                                         who=_who(request))
        for message_id in OutboxMessage.objects.filter(
                pk__in=ids, state=OutboxState.QUEUED).values_list("id", flat=True):
            enqueue_outbox_message(message_id)
        return Response({"queued": queued, "skipped": skipped})


class ConfigurationExportView(APIView):
    required_permissions = ("api.export_configuration",)

    @extend_schema(
        summary=_("The configuration as one document, without secrets"),
        parameters=[s.ExportQuerySerializer],
        responses={(200, "application/json"): OpenApiTypes.OBJECT,
                   (200, "application/yaml"): OpenApiTypes.OBJECT,
                   400: OpenApiResponse(description=_("A query parameter is not valid.")),
                   404: OpenApiResponse(description=_("No KeyCRM account has this id."))})
    def get(self, request: Request) -> Response | HttpResponse:
        query = s.ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        accounts = None
        if "account" in query.validated_data:
            accounts = list(KeyCrmAccount.objects.filter(pk=query.validated_data["account"]))
            if not accounts:
                raise NotFound(_("No KeyCRM account has this id."))
        data = configuration_export(accounts=accounts)
        if query.validated_data["file_format"] == "yaml":
            return HttpResponse(configuration_dumps(data, fmt="yaml"),
                                content_type="application/yaml; charset=utf-8")
        return Response(data)
