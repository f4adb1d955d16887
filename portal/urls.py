from django.contrib import admin
from django.urls import include, path

from portal import accounts
from portal.views import PortalLogoutView
from profiles.webhooks import status_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before accounts': GET asks, POST logs out and confirms (portal.views).
    path("accounts/logout/", PortalLogoutView.as_view(), name="logout"),
    path("accounts/", include(accounts.urlpatterns())),
    path("i18n/", include("django.conf.urls.i18n")),
    path("hooks/status/<int:connector_id>/", status_webhook, name="status-webhook"),
    path("phone/", include("devices.urls")),
    path("live/", include("live.urls")),
    path("", include("profiles.urls")),
]
