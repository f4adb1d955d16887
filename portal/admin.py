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
from django.contrib import admin
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


class CrontabScheduleAdmin(SuperuserOnlyAdmin, beat_admin.CrontabScheduleAdmin):
    pass


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
