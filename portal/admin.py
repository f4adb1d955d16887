"""django-celery-beat's admin, narrowed to superusers; django-axes' admin
actions declaring their permission.

Its forms edit raw crontab fields, task names and JSON arguments of the
portal's own system schedules (settings.CELERY_BEAT_SCHEDULE, copied in at
start); user time triggers are not beat entries. A staff user, whatever
model permissions a group hands out, does not need them, so only superusers
see these pages, and every action declares the permission it needs.
"""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from celery.schedules import crontab_parser
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule


class SuperuserOnlyAdmin:
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)


def _needs(permission: str, func):
    """The same action, declaring the permission it needs."""

    def action(modeladmin, request, queryset):
        return func(modeladmin, request, queryset)

    action.__name__ = func.__name__
    action.short_description = func.short_description
    action.allowed_permissions = (permission,)
    return action


def _needs_change(func):
    return _needs("change", func)


class PeriodicTaskAdmin(SuperuserOnlyAdmin, beat_admin.PeriodicTaskAdmin):
    enable_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.enable_tasks)
    disable_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.disable_tasks)
    toggle_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.toggle_tasks)
    run_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.run_tasks)


class ClockedScheduleAdmin(SuperuserOnlyAdmin, beat_admin.ClockedScheduleAdmin):
    pass


def _cron_field(name: str, max_: int, min_: int = 0):
    """A clean_<field> that parses the value as Celery will, so a bad value
    is a form error instead of a 500 when the page renders the schedule's
    description (django-celery-beat parses it there unguarded)."""

    def clean(self):
        value = self.cleaned_data.get(name, "")
        try:
            crontab_parser(max_, min_).parse(value)
        except Exception as exc:  # the parser raises ParseException, ValueError or IndexError
            raise forms.ValidationError(_("Not a valid crontab value: %(error)s"), params={"error": exc}) from None
        return value

    return clean


class CrontabScheduleForm(forms.ModelForm):
    class Meta:
        model = CrontabSchedule
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")

    clean_minute = _cron_field("minute", 60)
    clean_hour = _cron_field("hour", 24)
    clean_day_of_week = _cron_field("day_of_week", 7)
    clean_day_of_month = _cron_field("day_of_month", 31, 1)
    clean_month_of_year = _cron_field("month_of_year", 12, 1)


class CrontabScheduleAdmin(SuperuserOnlyAdmin, beat_admin.CrontabScheduleAdmin):
    form = CrontabScheduleForm


class SolarScheduleAdmin(SuperuserOnlyAdmin, beat_admin.SolarScheduleAdmin):
    pass


class IntervalScheduleAdmin(SuperuserOnlyAdmin, beat_admin.IntervalScheduleAdmin):
    pass


for _model, _admin_class in (
    (PeriodicTask, PeriodicTaskAdmin),
    (ClockedSchedule, ClockedScheduleAdmin),
    (CrontabSchedule, CrontabScheduleAdmin),
    (SolarSchedule, SolarScheduleAdmin),
    (IntervalSchedule, IntervalScheduleAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)


class ReadOnlyLoginRecords:
    """Login records are written by django-axes only: look and delete."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AccessAttemptAdmin(ReadOnlyLoginRecords, axes_admin.AccessAttemptAdmin):
    """Failed logins. Deleting a row unlocks that username and address at
    once (needs the delete permission of access attempts)."""

    cleanup_expired_attempts = _needs("delete", axes_admin.AccessAttemptAdmin.cleanup_expired_attempts)


class AccessLogAdmin(ReadOnlyLoginRecords, axes_admin.AccessLogAdmin):
    pass


class AccessFailureLogAdmin(ReadOnlyLoginRecords, axes_admin.AccessFailureLogAdmin):
    pass


for _model, _admin_class in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
