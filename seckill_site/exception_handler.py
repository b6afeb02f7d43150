"""The one DRF exception handler, answering with the status table of seckill_site.errors.

Every error body is JSON with `code` and `detail` (plus `errors` for field errors). Anything unmapped is a
logged 500 with code `internal_error`, never swallowed.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken

from seckill_site.errors import PayloadTooLarge, SeckillError, http_status_for

logger = logging.getLogger(__name__)

# DRF's own exceptions, by class, to our codes (the most specific class first).
_DRF_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.ValidationError, "invalid_request"),
    (exceptions.ParseError, "invalid_request"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (InvalidToken, "authentication_failed"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (Http404, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "rate_limited"),
]


def error_body(code: str, detail: str, errors=None) -> dict:
    body = {"code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def error_response(exc: SeckillError) -> HttpResponse:
    """The JSON answer to a domain error: what DRF's JSONRenderer would write, without DRF's Response and
    renderer machinery (most answers of a flash sale are `sold_out`: this is the hot path)."""
    plain = exc.errors is None and exc.detail == exc.default_detail  # one of a few fixed bodies: encoded once
    body = _plain_bodies.get((exc.code, exc.detail)) if plain else None
    if body is None:
        body = json_bytes(error_body(exc.code, exc.detail, exc.errors))
        if plain:
            _plain_bodies[exc.code, exc.detail] = body
    response = HttpResponse(body, content_type="application/json", status=http_status_for(exc.code))
    return _with_retry_after(response, exc)


def json_bytes(data: dict) -> bytes:
    """`data` as DRF's JSONRenderer writes it with this project's settings (compact, UTF-8, no NaN)."""
    return json.dumps(
        data, cls=encoders.JSONEncoder, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()


def json_response(data: dict, *, status: int) -> HttpResponse:
    """A JSON answer without DRF's Response and renderer (an answer given before DRF has neither)."""
    return HttpResponse(json_bytes(data), content_type="application/json", status=status)


# The body of each error class' default answer, by (code, detail): as many entries as there are classes.
_plain_bodies: dict[tuple[str, str], bytes] = {}


def _with_retry_after(response, exc: SeckillError):
    """A "try again" error (busy, rate_limited) tells the client when, on either kind of response."""
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)
    return response


def error_code_for(exc: Exception) -> str:
    """The machine code an exception is answered with (`internal_error` for one nothing maps)."""
    exc = _domain_error(exc)
    if isinstance(exc, SeckillError):
        return exc.code
    return next((code for cls, code in _DRF_CODES if isinstance(exc, cls)), "internal_error")


def _domain_error(exc: Exception) -> Exception:
    """Django's own refusal to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads request.body to parse
    JSON) is the API's payload_too_large, not an unhandled error."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    return exc


def handle_exception(exc, context):
    exc = _domain_error(exc)
    if isinstance(exc, SeckillError):
        set_rollback()
        response = Response(error_body(exc.code, exc.detail, exc.errors), status=http_status_for(exc.code))
        return _with_retry_after(response, exc)

    response = drf_exception_handler(exc, context)  # sets rollback and auth headers
    if response is None:
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return Response(
            error_body("internal_error", "Internal server error."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    code = error_code_for(exc)
    if isinstance(exc, exceptions.ValidationError):
        detail, errors = (
            "Invalid input.",
            exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail},
        )
    else:
        detail, errors = _flatten(exc.detail), None
    response.data = error_body(code, detail, errors)
    return response


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        detail = detail.get("detail", next(iter(detail.values()), ""))
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    return str(detail)
