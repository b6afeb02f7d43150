"""How a draw picks its winners, exactly (docs/draw.md shows it in a few lines of other languages). Pure functions:
the draw (services.py) and `manage.py verify_draw` both call these and nothing else decides.

    seed       64 hex digits the server drew when the product became a draw, secret until the draw
    commitment SHA-256 of the seed's 64 ASCII characters, public before the window opens
    codes      each entry's random code (20 hex digits), given to its buyer when they entered
    digest     SHA-256 of the sorted codes, each followed by "\n": the list the draw was held over
    order      the codes sorted by HMAC-SHA256(key = the seed's ASCII, message = the code's ASCII), ascending
               as bytes (a tie, never seen in practice, by the code)
    winners    the first min(stock, entrants) of the order; the rest are the waitlist, in that order
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

CODE_HEX_DIGITS = 20  # 80 bits: no two entries of a draw share a code (a collision in 100,000: ~4e-15)


def seed_new() -> str:
    return secrets.token_hex(32)


def seed_commitment(seed: str) -> str:
    """What the product page shows before the draw."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def entry_code_new() -> str:
    return secrets.token_hex(CODE_HEX_DIGITS // 2)


def entries_list(codes: Iterable[str]) -> str:
    """The published list: the sorted codes, one a line."""
    return "".join(f"{code}\n" for code in sorted(codes))


def entries_digest(codes: Iterable[str]) -> str:
    return hashlib.sha256(entries_list(codes).encode("ascii")).hexdigest()


def draw_order(seed: str, codes: Iterable[str]) -> list[str]:
    """The codes in the draw's order: winners first, then the waitlist."""
    key = seed.encode("ascii")
    return sorted(codes, key=lambda code: (hmac.new(key, code.encode("ascii"), hashlib.sha256).digest(), code))


def draw_request_id(product_id: int, code: str) -> str:
    """The request id of the order an entry wins: it names its product (seckill/gate/keys.py) and its entry, so that
    the ledger's unique request id refuses a second order for one entry, and anyone reading the orders can tell
    which entry each is for."""
    return f"{product_id}-draw-{code}"
