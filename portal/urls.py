from django.contrib import admin
from django.urls import include, path

from portal import accounts
from profiles.webhooks import graph_notifications, status_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns())),
    path("hooks/status/<int:connector_id>/", status_webhook, name="status-webhook"),
    path("hooks/graph/<int:connector_id>/", graph_notifications, name="graph-notifications"),
    path("phone/", include("devices.urls")),
    path("live/", include("live.urls")),
    path("", include("profiles.urls")),
]
