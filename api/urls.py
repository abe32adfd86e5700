from __future__ import annotations

from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("v1/health/", views.HealthView.as_view(), name="health"),
    path("v1/records/", views.RecordListView.as_view(), name="records"),
    path("v1/records/reprocess/", views.ReprocessView.as_view(), name="records-reprocess"),
    path("v1/records/<int:pk>/", views.RecordDetailView.as_view(), name="record"),
    path("v1/records/<int:pk>/reprocess/", views.RecordReprocessView.as_view(),
         name="record-reprocess"),
    path("v1/outbox/resend/", views.OutboxResendView.as_view(), name="outbox-resend"),
    path("v1/configuration/", views.ConfigurationExportView.as_view(), name="configuration"),
]
