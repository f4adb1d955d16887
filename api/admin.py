from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from api import tokens
from api.models import ApiToken
from devices.admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Staff see every token (never the token itself) and revoke them; the
    rows themselves are read-only (tokens are made by their owners, shown
    once, and only revoked)."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "last_used_ip", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        # Revoking is the one change to a token: the model's change permission.
        return request.user.has_perm("api.change_apitoken")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request, queryset):
        count = tokens.revoke_tokens(tokens=queryset)
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})
