"""The API tokens page (a portal page, behind login)."""

from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("", views.tokens_page, name="tokens"),
    path("<int:token_id>/revoke/", views.revoke, name="revoke"),
]
