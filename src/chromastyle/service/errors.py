"""One error shape for every refused request, and one log line for it (no traceback).

    HTTP 4xx/5xx, Content-Type application/json:
    {"error": "invalid_image", "message": "image: truncated or corrupt image (...)", "field": "image"}

`error` is a stable machine-readable code, `message` a sentence a person can act on, `field` the
form field at fault (or null). The same object is documented in the OpenAPI spec (ErrorBody).
"""

from __future__ import annotations

import json
import logging

from pydantic import BaseModel, Field

log = logging.getLogger("chromastyle.service")

ERROR_MARKER = "x-chromastyle-error"  # response header: set on every error this project answers


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: str = Field(description="machine-readable code, e.g. invalid_image, payload_too_large, overloaded")
    message: str = Field(description="what is wrong and what to do, for a person")
    field: str | None = Field(None, description="the request field at fault, if one is")


class ApiError(Exception):
    """A request the service refuses: HTTP status, code, message, optional field and headers."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def error_json(status: int, code: str, message: str, field: str | None = None) -> bytes:
    return json.dumps(ErrorBody(error=code, message=message, field=field).model_dump()).encode()


def error_headers(code: str, body: bytes, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
    headers = {"content-type": "application/json", "content-length": str(len(body)), ERROR_MARKER: code,
               **(extra or {})}
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def log_rejection(method: str, path: str, status: int, code: str, message: str) -> None:
    """One line per refused request: enough to see what clients get wrong, never a traceback."""
    log.warning("%s %s -> %d %s: %s", method, path, status, code, message[:300])


# For the OpenAPI spec of each route: every refusal has the same body.
ERROR_RESPONSES = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "malformed request, unusable image or parameter (the message names the field)",
        401: "CHROMASTYLE_API_KEY is set and the request lacks it (X-API-Key or Authorization: Bearer)",
        408: "the upload did not arrive within package.upload_timeout_s",
        413: "request body larger than package.max_upload_bytes (refused before it is read)",
        415: "not multipart/form-data",
        503: "overloaded (too many requests in progress or uploading), or timeout (the work outlived "
             "CHROMASTYLE_REQUEST_TIMEOUT_S); see Retry-After",
    }.items()
}
