from django.contrib import admin
from django.urls import path

from dashboard import views

urlpatterns = [
    path("reprocess/<str:key>/", admin.site.admin_view(views.cause_reprocess),
         name="dashboard_cause_reprocess"),
]
