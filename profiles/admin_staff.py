"""The staff operations as admin actions (the API has them too): switch a
set of users to a system profile, optionally until a time; re-apply. Each
checks its permission (profiles.switch_users, devices.reapply_profiles), not is_staff."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from profiles import events, services
from profiles.models import PresenceProfile

SWITCH_PERMISSION = "profiles.switch_users"
# Re-applying is the one permission the other re-apply actions need too.
REAPPLY_PERMISSION = "devices.reapply_profiles"


class StaffSwitchForm(forms.Form):
    profile = forms.ModelChoiceField(
        label=gettext_lazy("System profile"), queryset=PresenceProfile.objects.filter(kind="system")
    )
    until = forms.DateTimeField(
        label=gettext_lazy("Until (optional)"),
        required=False,
        help_text=gettext_lazy("Then everyone returns to what they had. Server time, e.g. 2026-12-01 17:00."),
    )

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until is not None and until <= timezone.now():
            raise forms.ValidationError(_("Choose a time in the future."))
        return until


class StaffActionsMixin:
    """For a ModelAdmin whose rows stand for users: ``staff_user_ids(queryset)``."""

    def staff_user_ids(self, queryset) -> list[int]:
        raise NotImplementedError

    def has_switch_users_permission(self, request) -> bool:
        return request.user.is_staff and request.user.has_perm(SWITCH_PERMISSION)

    def has_reapply_users_permission(self, request) -> bool:
        return request.user.is_staff and request.user.has_perm(REAPPLY_PERMISSION)

    @admin.action(description=gettext_lazy("Switch their users to a system profile…"), permissions=["switch_users"])
    def switch_users(self, request, queryset):
        user_ids = self.staff_user_ids(queryset)
        form = StaffSwitchForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            counts = services.staff_switch(
                actor=request.user,
                profile=form.cleaned_data["profile"],
                user_ids=user_ids,
                until=form.cleaned_data["until"],
            )
            switched = counts.pop("switched", 0)
            text = _("%(switched)d of %(users)d user(s) switched to %(profile)s.") % {
                "switched": switched,
                "users": len(user_ids),
                "profile": form.cleaned_data["profile"],
            }
            if counts:
                text += " " + _("Skipped: %(skipped)s.") % {
                    "skipped": ", ".join(f"{reason} {n}" for reason, n in counts.items())
                }
            self.message_user(request, text, messages.SUCCESS if switched else messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Switch users to a system profile"),
            "form": form,
            "queryset": queryset,
            "user_count": len(user_ids),
            "opts": self.model._meta,
            "action": "switch_users",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/profiles/staff_switch.html", context)

    @admin.action(description=gettext_lazy("Re-apply their users' profiles"), permissions=["reapply_users"])
    def reapply_users(self, request, queryset):
        count = events.schedule_reapply(user_ids=self.staff_user_ids(queryset), actor=request.user, detail="admin")
        self.message_user(request, _("Re-applying the profiles of %(count)d user(s).") % {"count": count})
