from django.contrib import admin
from django.urls import include, path

from portal import accounts
from profiles.webhooks import status_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns())),
    path("hooks/status/<int:connector_id>/", status_webhook, name="status-webhook"),
    path("phone/", include("devices.urls")),
    path("live/", include("live.urls")),
    path("", include("profiles.urls")),
]
