"""JSON responses and Discord's error vocabulary, exactly as discord.py expects them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

# Where a handler leaves the parsed request payload for the request log.
PAYLOAD_KEY = web.RequestKey("fake_payload", object)

# Messages Discord sends with each error code the fake produces.
ERROR_MESSAGES: dict[int, str] = {
    0: "401: Unauthorized",
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10014: "Unknown Emoji",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50008: "Cannot send messages in a non-text channel",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50033: "Invalid Recipient(s)",
    50035: "Invalid Form Body",
    50083: "Operation cannot be performed on an archived thread.",
}


class DiscordError(Exception):
    """An error response: HTTP status, Discord error code, and optional ``errors`` detail."""

    def __init__(
        self, status: int, code: int, message: str | None = None, errors: Any = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Error")
        self.errors = errors
        super().__init__(f"{status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        """The JSON body Discord returns."""
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def invalid_form(field: str, code: str, message: str) -> DiscordError:
    """A 400/50035 with Discord's nested ``errors`` shape for one field."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, errors=errors)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with Content-Type exactly ``application/json``.

    Never ``web.json_response``: its ``; charset=utf-8`` suffix makes discord.py treat the
    body as text and crash at login.
    """
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(error: DiscordError) -> web.Response:
    """The response for a DiscordError."""
    return json_response(error.body(), status=error.status)


def too_many_requests(retry_after_s: float, *, is_global: bool, scope: str) -> web.Response:
    """A 429 discord.py will honour: it needs a ``Via`` header and a JSON body to retry."""
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(retry_after_s))),
        "X-RateLimit-Scope": scope,
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after_s,
        "global": is_global,
    }
    return json_response(body, status=429, headers=headers)
