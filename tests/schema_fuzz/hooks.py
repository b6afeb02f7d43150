"""Schemathesis hooks of the schema-driven test (tests/integration/test_schema_fuzz.py): the rules of the API that
an OpenAPI schema cannot state (docs/API.md says them in words), kept in every generated request, so that the run
tests what lies behind them instead of stopping at them. Loaded by the `st` command (SCHEMATHESIS_HOOKS).

- the webhook: each body is signed as the provider signs it (Seckill-Signature, the test's secret), unless the
  case leaves the header out;
- a product's window: the sale must end after it starts, a draw's waitlist closes after it ends (cross-field
  rules);
- a purchase's quantity: at most the product's per-user limit, which is the product's state (the test's
  products allow 1).
"""

import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta

import schemathesis

SECRET = os.environ["SECKILL_PAYMENT_WEBHOOK_SECRET"].encode()


@schemathesis.hook
def before_call(ctx, case, kwargs):
    path, method = case.operation.path, case.operation.method.upper()
    if path == "/api/payments/webhook/":
        _sign(case, kwargs)
    elif path.startswith("/api/products/") and method in ("POST", "PATCH") and isinstance(case.body, dict):
        _window_in_order(case.body)
        _draw_rules(case.body)
    elif path == "/api/seckill/" and method == "POST" and isinstance(case.body, dict):
        quantity = case.body.get("quantity")
        if type(quantity) is int and quantity > 1:
            case.body["quantity"] = 1


def _sign(case, kwargs) -> None:
    if "Seckill-Signature" not in (case.headers or {}):
        return  # a case without the header tests that it is required
    sent = case.as_transport_kwargs()  # the body as the transport would send it: {"json": ...} or {"data": ...}
    raw = json.dumps(sent["json"], allow_nan=False).encode() if "json" in sent else (sent.get("data") or b"")
    raw = raw.encode() if isinstance(raw, str) else raw
    kwargs["data"] = raw  # sent as the bytes signed
    timestamp = int(time.time())
    digest = hmac.new(SECRET, f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    case.headers["Seckill-Signature"] = f"t={timestamp},v1={digest}"


def _window_in_order(body: dict) -> None:
    """When the body names a valid start or end, both are set and the end follows the start."""
    start, end = _moment(body.get("start_time")), _moment(body.get("end_time"))
    if start is None and end is None:
        return
    if start is None:
        start = end - timedelta(days=1)
    if end is None or end <= start:
        end = start + timedelta(days=1)
    body["start_time"], body["end_time"] = start.isoformat(), end.isoformat()


def _draw_rules(body: dict) -> None:
    """A draw's waitlist closes after its end (with no end in the body, the product's: null, the default). (A
    draw is in one gate bucket: the API sets no buckets, only the admin does.)"""
    waitlist, end = _moment(body.get("waitlist_until")), _moment(body.get("end_time"))
    if waitlist is not None:
        body["waitlist_until"] = max(waitlist, end).isoformat() if end is not None else None


def _moment(value) -> datetime | None:
    """A date-time string as an aware UTC datetime, None for anything else (or too near the calendar's ends)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if 2 <= moment.year <= 9998 else None
