"""Purchase tokens: an HMAC (Django's signing, keyed by SECRET_KEY) over (order, user, product).

Deterministic, so nothing is stored: anyone can present a token, only the server can make or check one (a
hash of the public fields alone could be forged by anyone).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

_SALT = "seckill.purchase-token.v1"


@dataclass(frozen=True)
class PurchaseClaim:
    order_id: int
    user_id: int
    product_id: int


_signers: dict[tuple, signing.Signer] = {}


def _signer() -> signing.Signer:
    """One Signer per key setting (building one reads the settings each time; a purchase makes a token)."""
    key = (settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))
    signer = _signers.get(key)
    if signer is None:
        _signers.clear()
        signer = _signers[key] = signing.Signer(salt=_SALT)
    return signer


def purchase_token_make(*, order_id: int, user_id: int, product_id: int) -> str:
    return _signer().sign(f"{order_id}:{user_id}:{product_id}")


def purchase_token_verify(token: str) -> PurchaseClaim:
    """Return the claim the token carries. Raises `django.core.signing.BadSignature` if forged or malformed."""
    value = _signer().unsign(token)
    try:
        order_id, user_id, product_id = (int(part) for part in value.split(":"))
    except ValueError as exc:  # a validly signed value we never issued cannot happen; be strict anyway
        raise signing.BadSignature("malformed purchase token") from exc
    return PurchaseClaim(order_id=order_id, user_id=user_id, product_id=product_id)
