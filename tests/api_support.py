"""Helpers for the API tests: a test client that sends a personal token."""

from __future__ import annotations

import json

from django.test import Client

from api import tokens


class ApiClient:
    """Django's test client speaking JSON with ``Authorization: Bearer``."""

    def __init__(self, user=None, *, raw: str | None = None):
        self.client = Client()
        self.raw = raw or (tokens.create_token(user=user, name="test client").raw if user is not None else None)

    def _headers(self, extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.raw}"} if self.raw else {}
        headers.update(extra)
        return headers

    def get(self, path, data=None, **extra):
        return self.client.get(path, data or {}, **self._headers(extra))

    def post(self, path, body=None, **extra):
        return self.client.post(path, json.dumps(body or {}), content_type="application/json", **self._headers(extra))

    def put(self, path, body=None, **extra):
        return self.client.put(path, json.dumps(body or {}), content_type="application/json", **self._headers(extra))

    def patch(self, path, body=None, **extra):
        return self.client.patch(path, json.dumps(body or {}), content_type="application/json", **self._headers(extra))

    def delete(self, path, **extra):
        return self.client.delete(path, **self._headers(extra))


def error_fields(response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}
