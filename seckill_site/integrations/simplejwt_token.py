"""simplejwt's access token, built from a payload the fast check verified, not decoded a second time.

Changes: a `rest_framework_simplejwt.tokens.Token` made with `__new__` and the attributes its `__init__` sets
(`token`, `current_time`, `payload`): private structure.
Why: simplejwt's `__init__` decodes the token again with PyJWT, whose generic parsing is a large share of a sold-out
answer (seckill_site/authentication.py; measured: docs/benchmark-log.md, "History", first round).
Off: None, and the caller has simplejwt decode the token (the same token, verified twice).
"""

from __future__ import annotations

from rest_framework_simplejwt.utils import aware_utcnow

from seckill_site import integrations

TESTED = {"djangorestframework-simplejwt": ("5.5.1",)}


def token_from_payload(token_class, raw_token: bytes, payload: dict):
    """The `token_class` simplejwt would make of `raw_token`, whose `payload` was verified; None when off."""
    if not integrations.allowed(__name__, TESTED):
        return None
    token = token_class.__new__(token_class)
    token.token, token.current_time, token.payload = raw_token, aware_utcnow(), payload
    return token
