from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from api import tokens
from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see every token (never the token itself) and revoke them."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "last_used_ip", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "last_used_ip", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are made by their owners, shown once

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        count = tokens.revoke_tokens(tokens=queryset)
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})
