"""Admin pages for polling and backfills.

Polling: one cursor per account (created by the first beat tick, or here). The operator sets
the interval, the overlap and whether to poll; the rest is written by the poll. "Poll now" runs
one poll in the request and says what it found.

Backfills: the add form takes an account and a day; saving queues the job (after the commit)
with a run, and opens the run's page, which shows the orders stored / in KeyCRM, the rate and
the time left as the job goes on. "Resume" does the same for failed (or stalled) jobs.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from runs.services import run_url
from staging.models import BackfillJob, PollCursor
from staging.services.backfill import (
    backfill_resume,
    backfill_since,
    backfill_start,
    backfill_unfinished,
)
from staging.services.polling import PollError, account_poll
from staging.tasks import backfill_run_start, enqueue_record


@admin.register(PollCursor)
class PollCursorAdmin(admin.ModelAdmin):
    list_display = ["account", "enabled", "interval_seconds", "overlap_seconds", "polled_until",
                    "last_success_at", "short_error"]
    list_filter = ["enabled"]
    list_select_related = ["account"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    fields = ["account", "enabled", "interval_seconds", "overlap_seconds", "polled_until",
              "last_started_at", "last_success_at", "last_error"]
    readonly_fields = ["polled_until", "last_started_at", "last_success_at", "last_error"]
    actions = ["poll_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: PollCursor | None = None):
        return [*self.readonly_fields, "account"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: PollCursor, form: forms.ModelForm,
                   change: bool) -> None:
        if change:
            # Only what the form edits: a poll running now writes the other fields.
            obj.save(update_fields=["enabled", "interval_seconds", "overlap_seconds"])
        else:
            obj.save()

    @admin.display(description=_("last error"))
    def short_error(self, obj: PollCursor) -> str:
        return Truncator(obj.last_error).chars(120)

    @admin.action(description=_("Poll now"), permissions=["change"])
    def poll_now(self, request: HttpRequest, queryset: QuerySet[PollCursor]) -> None:
        for cursor in queryset.select_related("account"):
            try:
                result = account_poll(account=cursor.account)
            except PollError as exc:
                for record_id in exc.result.new_record_ids:
                    enqueue_record(record_id)
                self.message_user(request, f"{cursor.account}: {exc.message}", messages.ERROR)
                continue
            for record_id in result.new_record_ids:
                enqueue_record(record_id)
            self.message_user(request, f"{cursor.account}: {result.summary()}",
                              messages.SUCCESS)


class BackfillAddForm(forms.ModelForm):
    since = forms.DateField(
        label=_("orders since"), widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The day (in the portal's time zone) from which KeyCRM orders are pulled, "
                    "by their order date. Orders up to the moment the backfill starts are "
                    "included."))

    class Meta:
        model = BackfillJob
        fields = ["account", "since"]

    def clean_since(self) -> Any:
        return backfill_since(self.cleaned_data["since"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("account") and data.get("since"):
            unfinished = backfill_unfinished(account=data["account"], since=data["since"])
            if unfinished is not None:
                raise forms.ValidationError(
                    _("Backfill #%(job)s for these dates is not finished (%(state)s). Select "
                      "it in the list and choose “Resume” instead."),
                    params={"job": unfinished.pk, "state": unfinished.get_state_display()})
        return data


@admin.register(BackfillJob)
class BackfillJobAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "since", "until", "progress", "state", "updated_at"]
    list_display_links = ["id", "account"]
    list_filter = ["state", "account"]
    list_select_related = ["account"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    date_hierarchy = "created_at"
    progress_fields = ["account", "since", "until", "state", "progress", "next_page",
                       "last_page", "total", "stored", "message", "created_at", "updated_at"]
    actions = ["resume"]

    def get_form(self, request: HttpRequest, obj: BackfillJob | None = None, **kwargs: Any):
        if obj is None:
            kwargs["form"] = BackfillAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: BackfillJob | None = None):
        return ["account", "since"] if obj is None else self.progress_fields

    def get_readonly_fields(self, request: HttpRequest, obj: BackfillJob | None = None):
        # Everything about a job is written by the job; only a new one takes input.
        return [] if obj is None else self.progress_fields

    def save_form(self, request: HttpRequest, form: forms.ModelForm,
                  change: bool) -> BackfillJob:
        if change:
            return super().save_form(request, form, change)
        return backfill_start(account=form.cleaned_data["account"],
                              since=form.cleaned_data["since"])

    def save_model(self, request: HttpRequest, obj: BackfillJob, form: forms.ModelForm,
                   change: bool) -> None:
        if change:
            return  # nothing on a job's page is editable
        obj.progress_run = backfill_run_start(job=obj)

    def response_add(self, request: HttpRequest, obj: BackfillJob,
                     post_url_continue: str | None = None) -> HttpResponse:
        run = getattr(obj, "progress_run", None)
        if run is None:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, gettext("Backfill #%(job)s queued; this page shows its "
                                           "progress.") % {"job": obj.pk}, messages.SUCCESS)
        return HttpResponseRedirect(run_url(run))

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any,
                     change: bool) -> None:
        pass  # a job has no related rows (and the add form was not saved by the form)

    @admin.display(description=_("progress"))
    def progress(self, obj: BackfillJob) -> str:
        if obj.total is None:
            return f"{obj.stored}/?"
        percent = 100 * obj.stored // obj.total if obj.total else 100
        return f"{obj.stored}/{obj.total} ({percent}%)"

    @admin.action(description=_("Resume"), permissions=["change"])
    def resume(self, request: HttpRequest,
               queryset: QuerySet[BackfillJob]) -> HttpResponse | None:
        runs, done = [], 0
        for job in queryset.select_related("account"):
            if not backfill_resume(job=job):
                done += 1
                continue
            runs.append(backfill_run_start(job=job))
        self.message_user(request, gettext("%(queued)s backfill(s) queued, %(done)s already "
                                           "done.") % {"queued": len(runs), "done": done},
                          messages.SUCCESS if runs else messages.WARNING)
        # One job: straight to its progress page; several: each has its own in "Runs".
        return HttpResponseRedirect(run_url(runs[0])) if len(runs) == 1 else None
