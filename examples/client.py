#!/usr/bin/env python3
"""A small desktop client for the Presence Profiles API (standard library only).

What a desktop or mobile client does: sign in with a personal API token,
connect its softphone, keep the session alive with heartbeats in the
background, list the profiles, switch (answering the prompt for a value),
and follow the colleagues' presence with a cheap poll (ETag / 304).

    python examples/client.py --url http://127.0.0.1:8000 --token pp_… --softphone 2000 \\
        --switch "Working from home" --prompt forward=+4930123456 --follow 60

Ctrl+C disconnects the softphone (it loses the profile's changes). A client
that dies without disconnecting stops heartbeating, and the portal ends its
session after the heartbeat window, exactly as if it had disconnected.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(f"{status} {body.get('code')}: {body.get('message')}")
        self.status, self.body = status, body


class Client:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0):
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """(status, headers, parsed body or None). Raises ApiError for 4xx/5xx."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, response.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return 304, exc.headers, None
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"code": "http_error", "message": raw.decode(errors="replace")[:200]}
            if exc.code == 429:
                # Rate limited: wait as told, then try once more.
                time.sleep(int(exc.headers.get("Retry-After", "1")))
                return self.request(method, path, body, headers)
            raise ApiError(exc.code, parsed) from None

    # --- the calls a client makes ---------------------------------------------------------

    def me(self) -> dict:
        return self.request("GET", "/me")[2]

    def profiles(self) -> list[dict]:
        return self.request("GET", "/profiles")[2]

    def switch(self, profile_id: int, prompt_values: dict | None = None, until: str | None = None) -> dict:
        body: dict = {"profile_id": profile_id}
        if prompt_values is not None:
            body["prompt_values"] = prompt_values
        if until:
            body["until"] = until
        return self.request("POST", "/me/switch", body)[2]

    def connect(self, extension: str, client_id: str, name: str, version: str) -> dict:
        body = {"extension": extension, "client_id": client_id, "client_name": name, "client_version": version}
        return self.request("POST", "/sessions", body)[2]

    def heartbeat(self, session_id: int) -> dict:
        return self.request("POST", f"/sessions/{session_id}/heartbeat")[2]

    def disconnect(self, session_id: int) -> None:
        self.request("DELETE", f"/sessions/{session_id}")

    def colleagues(self, etag: str | None = None):
        """(etag, body or None when nothing changed since ``etag``)."""
        status, headers, body = self.request("GET", "/colleagues", headers={"If-None-Match": etag} if etag else None)
        return headers.get("ETag", etag), (None if status == 304 else body)


class Heartbeat(threading.Thread):
    """Keeps a session alive; reconnects (same client id, so the same
    session while within the window) when the portal says it ended."""

    def __init__(self, client: Client, session: dict, reconnect):
        super().__init__(daemon=True)
        self.client, self.session, self.reconnect = client, session, reconnect
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.session["heartbeat_interval"]):
            try:
                self.client.heartbeat(self.session["id"])
            except ApiError as exc:
                if exc.status == 404:
                    self.session = self.reconnect()
                    log(f"session ended on the server; connected again (session {self.session['id']})")
                else:
                    log(f"heartbeat refused: {exc}")
            except OSError as exc:
                log(f"heartbeat failed, will retry: {exc}")


def log(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="a personal API token (portal: API tokens)")
    parser.add_argument("--softphone", help="the softphone extension this client runs")
    parser.add_argument("--client-id", default=f"example-{uuid.getnode():x}", help="stable per installation")
    parser.add_argument("--switch", metavar="PROFILE", help="switch to the profile with this name")
    parser.add_argument("--prompt", action="append", default=[], metavar="KIND=VALUE", help="e.g. forward=+4930123")
    parser.add_argument("--follow", type=float, default=0, metavar="SECONDS", help="follow colleagues this long")
    parser.add_argument("--poll", type=float, default=5, metavar="SECONDS", help="colleagues poll interval")
    args = parser.parse_args(argv)

    client = Client(args.url, args.token)
    me = client.me()
    log(f"signed in as {me['user']['name']}; profile: {me['profile']['name'] if me['profile'] else 'none'}")

    heartbeat = None
    if args.softphone:

        def connect():
            return client.connect(args.softphone, args.client_id, "examples/client.py", "1.0")

        session = connect()
        log(
            f"softphone {session['extension']} connected (session {session['id']}), "
            f"heartbeat every {session['heartbeat_interval']} s"
        )
        heartbeat = Heartbeat(client, session, connect)
        heartbeat.start()

    profiles = client.profiles()
    log("profiles: " + ", ".join(p["name"] for p in profiles))
    if args.switch:
        chosen = next((p for p in profiles if p["name"] == args.switch), None)
        if chosen is None:
            log(f"no profile named {args.switch!r}")
            return 2
        values = dict(item.split("=", 1) for item in args.prompt) if args.prompt else None
        try:
            me = client.switch(chosen["id"], values)
        except ApiError as exc:
            if exc.body.get("code") != "prompt_required":
                raise
            for prompt in exc.body["prompts"]:
                log(f"{chosen['name']} asks for {prompt['kind']} (recent: {', '.join(prompt['recent']) or 'none'})")
            return 3
        log(f"switched to {me['profile']['name']} (apply: {me['apply']['status']})")

    try:
        etag, deadline = None, time.monotonic() + args.follow
        while time.monotonic() < deadline:
            etag, board = client.colleagues(etag)
            if board is not None:
                log("colleagues: " + "; ".join(f"{c['name']} {c['profile']}" for c in board["results"]))
            time.sleep(args.poll)
    except KeyboardInterrupt:
        pass
    finally:
        if heartbeat is not None:
            heartbeat.stopped.set()
            client.disconnect(heartbeat.session["id"])
            log(f"softphone {args.softphone} disconnected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
