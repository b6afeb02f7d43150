"""One-time purchase paths: `<product>.<buyer>.<expiry ms>.<nonce>.<mac>`, the mac an HMAC-SHA256 (a key derived
from SECRET_KEY) over the rest.

Nothing is stored to issue or check one: only the server can make one (its mac), it names who may use it, for what
and until when, in the clear, so that each kind of misuse gets its own answer. What makes it one-time is the
admission, which marks its nonce spent in the same Redis step that admits the request (gate/lua/admit.lua), until
it expires. SECRET_KEY_FALLBACKS do not check old paths: a path lives a minute or two.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from hashlib import sha256

from django.conf import settings
from django.utils.crypto import salted_hmac

from seckill.antibot.errors import PathExpired, PathInvalid, PathOtherBuyer, PathOtherProduct, PathRequired

_SALT = "seckill.purchase-path.v1"
MAX_LENGTH = 130  # the longest a path of the form below can be
_FORM = re.compile(r"([1-9][0-9]{0,18})\.([1-9][0-9]{0,18})\.([1-9][0-9]{12})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")
_keys: dict[str, bytes] = {}


@dataclass(frozen=True)
class PathClaim:
    """A checked path: what the admission spends."""

    nonce: str
    expires_ms: int


def _key() -> bytes:
    key = _keys.get(settings.SECRET_KEY)
    if key is None:
        _keys.clear()
        key = _keys[settings.SECRET_KEY] = salted_hmac(_SALT, "path-key", algorithm="sha256").digest()
    return key


def _mac(body: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(_key(), body.encode(), sha256).digest()).rstrip(b"=").decode()


def path_token_make(*, user_id: int, product_id: int, expires_ms: int) -> str:
    """A new path for this buyer and product, valid until `expires_ms` (epoch ms)."""
    body = f"{product_id}.{user_id}.{expires_ms}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(body)}"


def path_token_check(token: str | None, *, user_id: int, product_id: int, now_ms: int) -> PathClaim:
    """The claim of a path presented by `user_id` for `product_id` at `now_ms`. Raises PathRequired (none),
    PathInvalid (not ours: malformed or forged), PathOtherProduct, PathOtherBuyer, PathExpired. Whether it was
    spent only the admission knows (PathUsed)."""
    if not token:
        raise PathRequired()
    form = _FORM.fullmatch(token) if len(token) <= MAX_LENGTH else None
    if form is None:
        raise PathInvalid()
    body = token[: form.start(5) - 1]
    if not hmac.compare_digest(_mac(body), form[5]):
        raise PathInvalid()
    if int(form[1]) != product_id:
        raise PathOtherProduct()
    if int(form[2]) != user_id:
        raise PathOtherBuyer()
    expires_ms = int(form[3])
    if expires_ms <= now_ms:
        raise PathExpired()
    return PathClaim(nonce=form[4], expires_ms=expires_ms)
