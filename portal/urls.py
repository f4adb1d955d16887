from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api import api
from api.views import api_not_found
from portal import accounts
from portal.views import PortalLogoutView
from profiles.webhooks import graph_notifications, status_webhook

urlpatterns = [
    # Browsers ask for it on every page that names no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("icons/circle-check.svg")), name="favicon"),
    path("admin/", admin.site.urls),
    # Before accounts': GET asks, POST logs out and confirms (portal.views).
    path("accounts/logout/", PortalLogoutView.as_view(), name="logout"),
    path("accounts/", include(accounts.urlpatterns())),
    path("i18n/", include("django.conf.urls.i18n")),
    path("hooks/status/<int:connector_id>/", status_webhook, name="status-webhook"),
    path("hooks/graph/<int:connector_id>/", graph_notifications, name="graph-notifications"),
    path("phone/", include("devices.urls")),
    path("api/v1/", api.urls()),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    path("api-tokens/", include("api.urls")),
    path("live/", include("live.urls")),
    path("", include("profiles.urls")),
]
