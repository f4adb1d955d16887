"""PBX drivers: read a user's actual device state, apply commands.

The driver is chosen by the PBX_DRIVER setting; get_driver() returns it.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from devices.drivers.base import Driver, DriverError, PermanentDriverError, StepResult, TransientDriverError

DRIVERS = {
    "simulated": "devices.drivers.simulated.SimulatedDriver",
    "asterisk": "devices.drivers.asterisk.AsteriskDriver",
}


def get_driver() -> Driver:
    return import_string(DRIVERS[settings.PBX_DRIVER])()


__all__ = ["Driver", "DriverError", "PermanentDriverError", "StepResult", "TransientDriverError", "get_driver"]
