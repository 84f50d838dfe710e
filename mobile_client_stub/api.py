"""The server's HTTP API as the handheld sees it: auth, devices, sync, media, tracking.

Failures are sorted into two kinds because the sync engine treats them differently:
``TransientError`` (no connection, timeouts, 5xx, 429) is retried with backoff;
``ClientError`` (any other 4xx) means the request itself is wrong and retrying cannot help.
"""

from __future__ import annotations

from typing import Any

import requests

TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


class TransientError(Exception):
    """The server could not be reached or could not answer now; retry later."""


class ClientError(Exception):
    """The server refused the request; the status and problem detail say why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class ServerApi:
    """A thin ``requests`` wrapper bound to one server and, once registered, one device."""

    def __init__(self, base_url: str, timeout: tuple[float, float] = (3.0, 20.0)) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.credential: str | None = None

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        token: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; raise ``TransientError``/``ClientError`` unless status is in ``ok``."""
        headers = dict(kwargs.pop("headers", None) or {})
        bearer = token or self.credential
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            response = self.session.request(
                method, self.url(path), headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            # A dead keep-alive connection must not poison the next attempt.
            self.session.close()
            raise TransientError(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code in ok:
            return response
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{method} {path}: HTTP {response.status_code}")
        raise ClientError(response.status_code, _problem_detail(response))

    def login(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        return str(self.request("POST", "/api/v1/auth/token", json=body).json()["access_token"])

    def register_device(self, user_token: str, name: str, platform: str) -> dict[str, Any]:
        response = self.request(
            "POST",
            "/api/v1/devices",
            ok=(200, 201),
            token=user_token,
            json={"name": name, "platform": platform},
        )
        return dict(response.json())

    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        return _json(self.request("POST", "/api/v1/sync/push", json=body))

    def pull(self, cursor: str | None) -> dict[str, Any]:
        params = {"cursor": cursor} if cursor else {}
        return _json(self.request("GET", "/api/v1/sync/pull", params=params))

    def post_positions(self, body: dict[str, Any]) -> requests.Response:
        return self.request(
            "POST", "/api/v1/tracking/positions", ok=(200, 201, 202, 404), json=body
        )


def _json(response: requests.Response) -> dict[str, Any]:
    """The body as JSON; a body mangled on the way is a network failure, not a server answer."""
    try:
        return dict(response.json())
    except ValueError as exc:
        raise TransientError(f"unreadable answer from {response.url}") from exc


def _problem_detail(response: requests.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(problem, dict):
        return str(problem.get("detail") or problem.get("title") or problem)[:500]
    return str(problem)[:200]
