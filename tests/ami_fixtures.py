"""The fake AMI peer and the settings that point the Asterisk driver at it,
shared by the listener and recovery tests (loaded in tests/conftest.py)."""

import pytest

from tests.ami_server import FakeAsterisk


@pytest.fixture
def pbx():
    fake = FakeAsterisk(login_delay=0.05).start()
    yield fake
    fake.stop()


@pytest.fixture
def asterisk(settings, pbx):
    settings.PBX_DRIVER = "asterisk"
    settings.AMI_HOST = "127.0.0.1"
    settings.AMI_PORT = pbx.port
    settings.AMI_SECRET = "portalsecret"
    settings.AMI_TIMEOUT = 2
    return pbx
