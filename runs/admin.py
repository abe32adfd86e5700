"""The page of a run: done / total, rate and time left, updating by itself while the run goes
on; a person can leave it and come back."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from runs.models import Run
from runs.services import run_status


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("title", "account", "state", "progress", "dry_run", "created_at",
                    "finished_at")
    list_filter = ("state", "kind", "dry_run", "account")
    search_fields = ("title", "message")
    change_form_template = "admin/runs/run/change_form.html"
    readonly_fields = ("kind", "title", "account", "state", "dry_run", "done", "total",
                       "message", "result", "created_at", "started_at", "finished_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("progress"))
    def progress(self, run: Run) -> str:
        if run.total:
            return format_html("{} / {} ({}%)", run.done, run.total, round(run.percent() or 0))
        return str(run.done)

    def get_urls(self) -> list:
        return [
            path("<int:run_id>/status/", self.admin_site.admin_view(self.status_view),
                 name="runs_run_status"),
            *super().get_urls(),
        ]

    def status_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return JsonResponse({"detail": "forbidden"}, status=403)
        return JsonResponse(run_status(get_object_or_404(Run, pk=run_id)))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        run = get_object_or_404(Run, pk=object_id)
        extra_context = {**(extra_context or {}), "run_status": run_status(run)}
        return super().change_view(request, object_id, form_url, extra_context)
