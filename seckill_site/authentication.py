"""API authentication: simplejwt's stateless access tokens, with a fast check of the tokens this service issues.

PyJWT's generic parsing of a token costs about as much as the rest of a sold-out answer (measured:
docs/benchmark-log.md, "History", first round). The fast path
takes only the exact shape simplejwt issues here (header {"alg":"HS256","typ":"JWT"}, the claims token_type,
exp, iat, jti and the user id, integer times) and checks what simplejwt checks: the HMAC-SHA256 signature
(constant-time, canonical encoding only), token_type "access", `exp` in the future, `iat` not, a string `jti`,
a user id. Every other token, including every invalid one, goes to simplejwt unchanged, so answers and error messages
are exactly the library's. The fast path is off unless simplejwt is configured for plain HS256 (no audience,
issuer, leeway, JWK or separate verifying key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from django.contrib.auth import get_user_model
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.models import TokenUser

from seckill_site.integrations import simplejwt_token
from seckill_site.tokens import AccessToken, verifying_keys

# Times past the year 9999 make simplejwt fail (datetime overflow): those tokens are left to it.
MAX_EPOCH = 253402300800
# PyJWT's encoding of {"alg": "HS256", "typ": "JWT"} (sorted keys, compact separators).
HS256_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def fast_path_keys() -> tuple[bytes, ...] | None:
    """The HMAC keys, in the order they are tried (the signing key, then SECRET_KEY_FALLBACKS: seckill_site.tokens),
    when simplejwt is set up for plain HS256 with nothing the fast path does not check."""
    s = jwt_settings.api_settings
    if (
        s.ALGORITHM != "HS256"
        or s.VERIFYING_KEY
        or s.AUDIENCE is not None
        or s.ISSUER is not None
        or s.JWK_URL
        or s.LEEWAY
        or not isinstance(s.SIGNING_KEY, str)
        or not s.SIGNING_KEY
        or AccessToken not in s.AUTH_TOKEN_CLASSES
        or s.TOKEN_TYPE_CLAIM is None
        or s.JTI_CLAIM is None
    ):
        return None
    return tuple(key.encode() for key in verifying_keys())


def _claims() -> tuple[frozenset, frozenset]:
    s = jwt_settings.api_settings
    required = frozenset({s.TOKEN_TYPE_CLAIM, "exp", s.JTI_CLAIM, s.USER_ID_CLAIM})
    return required, required | {"iat"}


def fast_verify(raw_token: bytes, *, key: bytes, now: float | None = None) -> dict | None:
    """The payload of a valid access token of the shape this service issues, else None (let simplejwt decide:
    None never means valid, and never means invalid either)."""
    parts = raw_token.split(b".")
    if len(parts) != 3 or parts[0] != HS256_HEADER:
        return None
    signing_input = parts[0] + b"." + parts[1]
    expected = base64.urlsafe_b64encode(hmac.digest(key, signing_input, hashlib.sha256)).rstrip(b"=")
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):
        return None
    if type(payload) is not dict:
        return None
    required, allowed = _claims()
    keys = payload.keys()
    if not (required <= keys <= allowed):
        return None
    now = time.time() if now is None else now
    exp, iat = payload["exp"], payload.get("iat", 0)
    if type(exp) is not int or type(iat) is not int or not now < exp < MAX_EPOCH or iat > now:
        return None
    if type(payload[jwt_settings.api_settings.JTI_CLAIM]) is not str:  # PyJWT requires a string jti
        return None
    if payload[jwt_settings.api_settings.TOKEN_TYPE_CLAIM] != AccessToken.token_type:
        return None
    user_id = payload[jwt_settings.api_settings.USER_ID_CLAIM]
    if type(user_id) not in (int, str):
        return None
    return payload


# Tokens fast_verify accepted, with their payload: a buyer who presses "buy" again is checked by a dict lookup and
# the expiry instead of the HMAC and two decodes. Keyed by the exact token bytes and the keys that were tried;
# bounded (emptied when full).
VERIFIED_CACHE_SIZE = 4096
_verified: dict[tuple[bytes, tuple[bytes, ...]], dict] = {}


def verified_payload(raw_token: bytes, keys: tuple[bytes, ...]) -> dict | None:
    """The payload fast_verify finds with the first of `keys` that verifies the token, or None."""
    payload = _verified.get((raw_token, keys))
    if payload is not None and time.time() < payload["exp"]:
        return payload
    payload = next((found for key in keys if (found := fast_verify(raw_token, key=key)) is not None), None)
    if payload is not None:
        if len(_verified) >= VERIFIED_CACHE_SIZE:
            _verified.clear()
        _verified[raw_token, keys] = payload
    return payload


def fast_user_id(header: str | bytes | None) -> int | None:
    """The user id (as apis.caller_id reads it: the TokenUser's id as an int) of an Authorization header that
    FastJWTAuthentication accepts by its fast path, else None: None decides nothing, simplejwt then decides."""
    if not header or jwt_settings.api_settings.TOKEN_USER_CLASS is not TokenUser:
        return None
    if isinstance(header, str):
        header = header.encode(HTTP_HEADER_ENCODING)  # as simplejwt's get_header does
    try:
        raw_token = _authenticator.get_raw_token(header)  # simplejwt's own parsing of the header
    except AuthenticationFailed:
        return None
    keys = fast_path_keys()
    payload = verified_payload(raw_token, keys) if raw_token is not None and keys is not None else None
    if payload is None:
        return None
    try:
        return int(payload[jwt_settings.api_settings.USER_ID_CLAIM])
    except (TypeError, ValueError):
        return None


class FastJWTAuthentication(JWTStatelessUserAuthentication):
    """JWTStatelessUserAuthentication with the fast path above; no database query either way."""

    def __init__(self, *args, **kwargs):
        # DRF makes one per request; simplejwt's __init__ only looks up the user model, which the
        # stateless user never reads: looked up when asked instead.
        pass

    @property
    def user_model(self):
        return get_user_model()

    def get_validated_token(self, raw_token: bytes):
        keys = fast_path_keys()
        payload = verified_payload(raw_token, keys) if keys is not None else None
        token = simplejwt_token.token_from_payload(AccessToken, raw_token, payload) if payload is not None else None
        if token is not None:
            return token
        try:
            return super().get_validated_token(raw_token)
        except (OverflowError, OSError, RecursionError, ValueError) as exc:  # a signed exp of 1e20 or 7e16
            raise InvalidToken("Token is invalid") from exc


_authenticator = FastJWTAuthentication()  # (its __init__ does nothing: one serves every call)
