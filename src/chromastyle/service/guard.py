"""The service's front door (an ASGI middleware in front of every route, BentoML's included).

- The body limit applies before the body is read: a Content-Length over package.max_upload_bytes
  gets 413 at once, and a body that streams past it (chunked, or a lying Content-Length) is cut
  off at the limit.
- Optional API key: with CHROMASTYLE_API_KEY set, the API routes need `X-API-Key: <key>` or
  `Authorization: Bearer <key>` (the health, metrics and web-page routes stay open).
- One error shape: any 4xx/5xx that a route did not answer in the project's shape (BentoML's or
  Starlette's own 404/405/503/504) is rewritten into it, and logged as one line.
- The API documentation at `/` is the project's own page over BentoML's bundled Swagger UI, with
  nothing loaded from outside (BentoML's page loads Google Tag Manager), and /docs.json describes
  the service in its own words (BentoML's default description embeds badge images from shields.io,
  which any Swagger page would fetch).
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Callable
from pathlib import Path

from chromastyle.service.errors import ERROR_MARKER, error_headers, error_json, log_rejection

KEPT_HEADERS = frozenset({b"allow", b"retry-after", b"www-authenticate"})  # meaningful in a rewritten error
API_PATHS = frozenset({"/colorize", "/stylize", "/stylize_upload", "/styles", "/info"})
DOCS_PAGE = Path(__file__).parent / "static" / "docs.html"
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type",
                422: "invalid_parameter", 429: "too_many_requests", 500: "internal_error",
                503: "unavailable", 504: "timeout"}


class BodyTooLarge(Exception):
    """The request body streamed past the limit; raised from `receive` to whoever is reading it."""

    def __init__(self, limit: int):
        super().__init__(f"request body exceeds the limit of {limit} bytes (package.max_upload_bytes)")


def _message_for(status: int, method: str, path: str) -> str:
    if status == 404:
        return f"no such route: {method} {path}; the API is described at / (OpenAPI: /docs.json)"
    if status == 405:
        return f"{method} is not allowed on {path}; see / for the API"
    if status == 503:
        return "the service is overloaded or not ready; retry later"
    if status == 504:
        return "the request took longer than the service's timeout"
    if status >= 500:
        return "unexpected server error; the server log has the details"
    return f"request refused ({status})"


class RequestGuard:
    def __init__(self, app, max_body_bytes: Callable[[], int], api_key: str | None = None, description: str = ""):
        self.app = app
        self.description = description
        self._max_body_bytes = max_body_bytes  # resolved at the first request: the model store is ready then
        self.api_key = api_key or None

    @functools.cached_property
    def max_body_bytes(self) -> int:
        return self._max_body_bytes()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if path == "/" and method in ("GET", "HEAD"):
            return await self._send(send, 200, DOCS_PAGE.read_bytes(), "text/html; charset=utf-8")
        if path == "/docs.json" and method == "GET":
            return await self._send_openapi(scope, receive, send)
        if self.api_key and path in API_PATHS and not self._authorised(scope):
            return await self._refuse(send, method, path, 401, "unauthorized",
                                      "missing or wrong API key: send X-API-Key: <key> or Authorization: Bearer <key>",
                                      {"www-authenticate": "Bearer"})
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            return await self._refuse(send, method, path, 413, "payload_too_large",
                                      f"request body of {declared} bytes exceeds the limit of "
                                      f"{self.max_body_bytes} (package.max_upload_bytes)")
        started = False
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        rewrite: dict | None = None

        async def guarded_send(message):
            nonlocal started, rewrite
            if message["type"] == "http.response.start":
                started = True
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if message["status"] >= 400 and ERROR_MARKER.encode() not in headers:
                    rewrite = message  # answered in another shape: replace once its body is done
                    return
            elif rewrite is not None:
                if not message.get("more_body", False):
                    status = rewrite["status"]
                    kept = {k.decode("latin-1"): v.decode("latin-1") for k, v in rewrite.get("headers", [])
                            if k.lower() in KEPT_HEADERS}
                    if status == 503:
                        kept.setdefault("retry-after", "5")
                    await self._refuse(send, method, path, status, STATUS_CODES.get(status, "error"),
                                       _message_for(status, method, path), kept)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge as err:
            if not started:
                await self._refuse(send, method, path, 413, "payload_too_large", str(err))

    async def _send_openapi(self, scope, receive, send) -> None:
        """BentoML's OpenAPI document with info.description replaced by the service's own."""
        start, chunks = {}, []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            spec = json.loads(body)
            spec.setdefault("info", {}).update(description=self.description, contact={"name": "chromastyle"})
            body = json.dumps(spec).encode()
        await self._send(send, start.get("status", 500), body, "application/json")

    def _authorised(self, scope) -> bool:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get(b"x-api-key") or _bearer_token(headers.get(b"authorization", ""))
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    async def _refuse(self, send, method: str, path: str, status: int, code: str, message: str,
                      extra: dict[str, str] | None = None) -> None:
        log_rejection(method, path, status, code, message)
        body = error_json(status, code, message)
        await send({"type": "http.response.start", "status": status, "headers": error_headers(code, body, extra)})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _send(send, status: int, body: bytes, media_type: str) -> None:
        """A whole response in one go (small bodies only)."""
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _bearer_token(authorization: str) -> str:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235); "" for any
    other form: a bare `Authorization: <key>` is not a credential this service accepts."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _content_length(scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
