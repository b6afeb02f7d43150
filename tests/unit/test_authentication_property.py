"""Property: the fast JWT check and simplejwt alone agree on every token: thousands of random, mutated and
malformed ones (Hypothesis), each either refused by both or accepted by both for the same user."""

import base64
import hashlib
import hmac
import json
import time

from django.conf import settings
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from seckill_site.authentication import FastJWTAuthentication


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def verdict(authenticator, raw: bytes):
    """('ok', user id) or ('refused',): what an endpoint would make of this Authorization header."""
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=b"Bearer " + raw)
    try:
        found = authenticator.authenticate(request)
    except AuthenticationFailed:
        return ("refused",)
    except Exception as exc:  # neither may fail otherwise: a 500 on a token is a bug of its own
        return ("crashed", type(exc).__name__)
    return ("ok", str(found[1].payload.get("user_id"))) if found else ("anonymous",)


NOW = int(time.time())
claim_values = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([NOW - 100, NOW - 10, NOW - 1, NOW + 2, NOW + 600, NOW + 10**6, 2**63, "access", "refresh", "7"]),
)
VALID = {"token_type": "access", "exp": NOW + 600, "iat": NOW - 5, "jti": "abc123", "user_id": "7"}


# Per claim, the values that sit at the edges of its rule (as well as any value at all).
EDGES = {
    "token_type": st.sampled_from(["access", "refresh", "sliding", "Access", 1]),
    "exp": st.sampled_from([NOW - 100, NOW - 10, NOW - 1, NOW + 2, NOW + 600, 253402300799, 2**63, 1.5, "9"]),
    "iat": st.sampled_from([NOW - 5, NOW + 1, NOW + 3600, 0, -1, 1.5, "1"]),
    "jti": st.sampled_from(["", "x", 7, None, ["a"]]),
    "user_id": st.sampled_from(["7", 7, "", 0, -1, 1.5, None, ["7"], {"id": 7}]),
}


@st.composite
def payloads(draw) -> dict:
    """A valid access token's claims, with none, one or a few of them changed, dropped or added."""
    payload = dict(VALID)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        claim = draw(st.sampled_from([*VALID, "extra", "nbf"]))
        how = draw(st.sampled_from(["edge", "edge", "any", "drop"]))
        if how == "drop":
            payload.pop(claim, None)
        else:
            payload[claim] = draw(EDGES[claim] if how == "edge" and claim in EDGES else claim_values)
    return payload


CANONICAL = {"alg": "HS256", "typ": "JWT"}
headers = st.one_of(
    st.just(CANONICAL),
    st.just(CANONICAL),
    st.just(CANONICAL),
    st.just(CANONICAL),
    st.just({"typ": "JWT", "alg": "HS256"}),  # the same claims in another order: not this service's encoding
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["HS256", "HS384", "none", "RS256", "hs256"]), "typ": st.sampled_from(["JWT", "jwt"])}
    ),
    st.dictionaries(st.sampled_from(["alg", "typ", "kid"]), claim_values, max_size=3),
)


@st.composite
def tokens(draw) -> bytes:
    header, payload = draw(headers), draw(payloads())
    right_key = settings.SECRET_KEY.encode()
    key = draw(st.sampled_from([right_key] * 6 + [b"another-key-entirely", b""]))
    digest = draw(st.sampled_from([hashlib.sha256] * 6 + [hashlib.sha384]))
    compact = draw(st.sampled_from([True] * 4 + [False]))  # PyJWT's encoding is compact; spaced is valid JSON too
    separators = (",", ":") if compact else (", ", ": ")
    signing_input = (
        b64(json.dumps(header, separators=separators).encode())
        + b"."
        + b64(json.dumps(payload, separators=separators).encode())
    )
    raw = signing_input + b"." + b64(hmac.digest(key, signing_input, digest))
    mutation = draw(st.sampled_from(["none", "none", "none", "none", "flip", "cut", "append", "segments", "junk"]))
    if mutation == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 127))]) + raw[i + 1 :]
    elif mutation == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == "append":
        raw += draw(st.sampled_from([b"=", b"==", b".", b"A", b" "]))
    elif mutation == "segments":
        raw = b".".join(raw.split(b".")[: draw(st.integers(1, 2))]) + draw(st.sampled_from([b"", b".x.y"]))
    elif mutation == "junk":
        raw = draw(st.binary(max_size=80)).replace(b"\n", b"").replace(b"\r", b"")
    return raw


@hypothesis_settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens())
def test_the_fast_check_and_simplejwt_agree_on_every_token(raw):
    fast, reference = verdict(FastJWTAuthentication(), raw), verdict(JWTStatelessUserAuthentication(), raw)
    assert fast == reference or (fast == ("refused",) and reference[0] == "crashed"), (raw, fast, reference)
    assert fast[0] != "crashed", (raw, fast)
    event(f"fast: {fast[0]}, simplejwt: {reference[0]}")
