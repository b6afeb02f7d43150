"""The proof-of-work challenge, behind a small interface (ChallengeVerifier), so that a hosted service may replace
it; the one here is ALTCHA's (PoW v2, https://altcha.org/docs/v2/).

A challenge is made in ALTCHA's deterministic mode: the server draws the counter the client must find (between
half the product's challenge_cost and all of it), derives that key once, and signs both the challenge (its
parameters, the buyer and the product among them) and the derived key. Verifying a solution is then two HMACs, no
key derivation (`hmac_key_secret`). The client counts from 0 up to the counter, each step a PBKDF2 derivation of
SECKILL_CHALLENGE_ITERATIONS rounds (ALTCHA's worker, served from static/seckill/altcha/).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Protocol

import altcha
from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from seckill.antibot.errors import (
    ChallengeExpired,
    ChallengeInvalid,
    ChallengeOtherBuyer,
    ChallengeOtherProduct,
    ChallengeRequired,
)

ALGORITHM = "PBKDF2/SHA-256"
MAX_SOLUTION_LENGTH = 2048  # (an ALTCHA v2 payload is about 700 characters; a body is at most 4096 bytes)


@dataclass(frozen=True)
class Solved:
    """A verified solution: what makes it one of a kind (accepted once: services.py), and until when."""

    solution_id: str
    expires_at: int  # epoch s


class ChallengeVerifier(Protocol):
    def challenge_make(self, *, user_id: int, product_id: int, cost: int, expires_at: int) -> dict:
        """A challenge for this buyer and product, as the client gets it (JSON)."""

    def solution_verify(self, solution: str | None, *, user_id: int, product_id: int) -> Solved:
        """The solution's identity, if it solves a challenge made for this buyer and product that has not expired.
        Raises ChallengeRequired, ChallengeInvalid, ChallengeExpired, ChallengeOtherBuyer, ChallengeOtherProduct."""


class AltchaVerifier:
    def __init__(self):
        self.hmac_secret = salted_hmac("seckill.altcha.challenge", "key", algorithm="sha256").hexdigest()
        self.key_secret = salted_hmac("seckill.altcha.derived-key", "key", algorithm="sha256").hexdigest()

    def challenge_make(self, *, user_id: int, product_id: int, cost: int, expires_at: int) -> dict:
        challenge = altcha.create_challenge(
            ALGORITHM,
            settings.SECKILL_CHALLENGE_ITERATIONS,
            counter=cost // 2 + secrets.randbelow(cost - cost // 2 + 1),
            expires_at=expires_at,
            data={"product": product_id, "buyer": user_id},
            hmac_secret=self.hmac_secret,
            hmac_key_secret=self.key_secret,
        )
        return challenge.to_dict()

    def solution_verify(self, solution: str | None, *, user_id: int, product_id: int) -> Solved:
        if not solution:
            raise ChallengeRequired()
        if len(solution) > MAX_SOLUTION_LENGTH:
            raise ChallengeInvalid()
        try:  # (parsed once, here: ALTCHA's verify_solution takes the parsed payload)
            payload = altcha.Payload.from_base64(solution)
            result = altcha.verify_solution(payload, self.hmac_secret, hmac_key_secret=self.key_secret)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # not a payload ALTCHA reads
            raise ChallengeInvalid() from None
        if result.expired:
            raise ChallengeExpired()
        if not result.verified:
            raise ChallengeInvalid()
        # Signed, so these are the server's own: the buyer and product it was made for.
        parameters = payload.challenge.parameters
        data = parameters.data if isinstance(parameters.data, dict) else {}
        if data.get("product") != product_id:
            raise ChallengeOtherProduct()
        if data.get("buyer") != user_id:
            raise ChallengeOtherBuyer()
        return Solved(solution_id=parameters.salt, expires_at=int(parameters.expires_at or time.time()))


_verifiers: dict[tuple, ChallengeVerifier] = {}


def verifier() -> ChallengeVerifier:
    """The configured verifier (SECKILL_CHALLENGE_VERIFIER), one per setting and SECRET_KEY."""
    key = (settings.SECKILL_CHALLENGE_VERIFIER, settings.SECRET_KEY)
    found = _verifiers.get(key)
    if found is None:
        _verifiers.clear()
        found = _verifiers[key] = import_string(settings.SECKILL_CHALLENGE_VERIFIER)()
    return found
