"""The portal's settings with the HTTP bench's URL configuration (it adds a
bare login-required view that the product never has)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
