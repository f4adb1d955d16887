"""schemathesis over the whole API schema, inside the suite: generated
valid and invalid requests (bounded, so CI stays fast) against the real
Django app on the test database; no answer is a server error and every
answer conforms to the schema (status code, content type, body, headers)."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from profiles.models import PresenceProfile
from profiles.services import select_profile
from tests.api_support import ApiClient
from tests.factories import make_user, profile_named

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Django's test client keeps the database connection (and so the
    test's transaction) across requests; a bare WSGI call would close it at
    the end of each request. Do what the test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, wsgi_keeps_the_test_connection):
    alice = make_user("alice", "1000", teams=("Sales",))
    make_user("bob", "1001")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert PresenceProfile.objects.filter(owner=alice).exists()
    return ApiClient(alice).raw


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_every_request_within_its_schema(case, token):
    # Every check but "schema-valid data is accepted": the portal's rules go
    # beyond the schema (a profile name already taken, a colour that is not
    # #rrggbb, a time trigger on a system profile) and rightly answer 4xx.
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=[positive_data_acceptance])
