from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from mappings.admin.bas_picker import bas_elements_view
from staging.views import keycrm_webhook

admin.site.site_header = _("KeyCRM ⇄ BAS")
admin.site.site_title = _("KeyCRM ⇄ BAS portal")
admin.site.index_title = _("Integration")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/mappings/bas-elements/", admin.site.admin_view(bas_elements_view),
         name="mappings_bas_elements"),
    path("admin/dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("hooks/keycrm/<str:token>/", keycrm_webhook, name="keycrm_webhook"),
    path("api/", include("api.urls")),
]
