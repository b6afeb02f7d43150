"""The fast JWT check (seckill/authentication.py) accepts exactly the tokens simplejwt accepts on its path, and
defers every other token to simplejwt: a forged, tampered, expired or foreign token never authenticates."""

import base64
import hashlib
import hmac
import json
import random
import time
from datetime import timedelta
from unittest import mock

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from seckill_site.authentication import FastJWTAuthentication, fast_path_keys, fast_verify

KEY = settings.SECRET_KEY.encode()


class User:  # what AccessToken.for_user reads
    def __init__(self, pk):
        self.pk = self.id = pk


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(header: dict, payload: dict, key: bytes = KEY, alg=hashlib.sha256) -> bytes:
    signing_input = (
        b64(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + b64(json.dumps(payload, separators=(",", ":")).encode())
    )
    return signing_input + b"." + b64(hmac.digest(key, signing_input, alg))


def good_payload(**changes) -> dict:
    now = int(time.time())
    payload = {"token_type": "access", "exp": now + 600, "iat": now, "jti": "abc", "user_id": "7"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


HS256 = {"alg": "HS256", "typ": "JWT"}


def authenticate(raw: bytes):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=b"Bearer " + raw)
    return FastJWTAuthentication().authenticate(request)


def test_tokens_this_service_issues_take_the_fast_path():
    raw = str(AccessToken.for_user(User(42))).encode()
    payload = fast_verify(raw, key=KEY)
    assert payload is not None and payload["user_id"] == "42"
    # simplejwt's own decoder is not called for it, and the user is the same as simplejwt would give
    with mock.patch("rest_framework_simplejwt.backends.TokenBackend.decode", side_effect=AssertionError):
        user, token = authenticate(raw)
    assert user.id == "42" and token["jti"] == payload["jti"]


@pytest.mark.parametrize(
    "name, raw",
    [
        ("wrong key", sign(HS256, good_payload(), key=b"another key")),
        ("alg none", b64(b'{"alg":"none","typ":"JWT"}') + b"." + b64(json.dumps(good_payload()).encode()) + b"."),
        ("HS512", sign({"alg": "HS512", "typ": "JWT"}, good_payload(), alg=hashlib.sha512)),
        ("expired", sign(HS256, good_payload(exp=int(time.time()) - 1))),
        ("issued in the future", sign(HS256, good_payload(iat=int(time.time()) + 600))),
        ("refresh token", sign(HS256, good_payload(token_type="refresh"))),
        ("no jti", sign(HS256, good_payload(jti=None))),
        ("no user", sign(HS256, good_payload(user_id=None))),
        ("no exp", sign(HS256, good_payload(exp=None))),
        ("not a dict", sign(HS256, [1, 2])),  # type: ignore[arg-type]
        ("jti a number", sign(HS256, good_payload(jti=123))),
        ("exp past year 9999", sign(HS256, good_payload(exp=10**20))),
        ("two parts", b"abc.def"),
        ("garbage", b"\xff\xfe.\x00.\x01"),
    ],
)
def test_anything_else_is_left_to_simplejwt_and_refused(name, raw):
    assert fast_verify(raw, key=KEY) is None, name
    with pytest.raises(InvalidToken):
        authenticate(raw)


@pytest.mark.parametrize(
    "name, make",
    [  # made when the test runs: a token made at collection expires before a long suite reaches it
        ("float exp", lambda: sign(HS256, good_payload(exp=time.time() + 600))),
        ("an audience nobody checks", lambda: sign(HS256, good_payload(aud="someone"))),
        ("keys in another order", lambda: sign({"typ": "JWT", "alg": "HS256"}, good_payload())),
    ],
)
def test_unusual_but_valid_tokens_are_left_to_simplejwt_which_accepts_them(name, make):
    raw = make()
    assert fast_verify(raw, key=KEY) is None, name
    user, _ = authenticate(raw)
    assert user.id == "7"


def deep_payload() -> bytes:
    header = b64(json.dumps(HS256, separators=(",", ":")).encode())
    signing_input = header + b"." + b64(b'{"a":' * 5000 + b"1" + b"}" * 5000)
    return signing_input + b"." + b64(hmac.digest(KEY, signing_input, hashlib.sha256))


def test_a_deeply_nested_signed_payload_is_not_an_error_of_the_fast_path():
    assert fast_verify(deep_payload(), key=KEY) is None


CLAIM_VARIANTS = [
    {},
    {"jti": 123},
    {"jti": None},
    {"jti": ""},
    {"exp": 10**20},
    {"exp": 1.5e9},
    {"iat": None},
    {"iat": "x"},
    {"iat": 1.5},
    {"user_id": 7},
    {"user_id": True},
    {"user_id": None},
    {"user_id": [7]},
    {"token_type": "refresh"},
    {"token_type": None},
    {"nbf": 1},
    {"aud": "x"},
    {"exp": 0},
    {"exp": -1},
    {"exp": True},
]


@pytest.mark.parametrize("changes", CLAIM_VARIANTS)
def test_the_fast_path_accepts_a_signed_token_only_if_simplejwt_does(changes):
    """Signed with the service's key (so only the claims differ): where the fast path says yes, simplejwt's own
    path, asked directly, says yes with the same payload."""
    payload = good_payload()
    payload.update(changes)
    raw = sign(HS256, {k: v for k, v in payload.items()})
    fast = fast_verify(raw, key=KEY)
    if fast is None:
        return  # left to simplejwt: whatever it answers is the answer
    token = AccessToken(raw)  # simplejwt's full check; raises if it refuses
    assert dict(token.payload) == fast


def test_no_changed_character_passes_the_fast_path():
    raw = str(AccessToken.for_user(User(5))).encode()
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    rng = random.Random(4)
    for _ in range(500):
        mutated = bytearray(raw)
        i = rng.randrange(len(mutated))
        mutated[i] = rng.choice([c for c in alphabet if c != mutated[i]])
        assert fast_verify(bytes(mutated), key=KEY) is None, bytes(mutated)


def test_a_tampered_payload_with_the_old_signature_is_refused():
    header, payload, signature = str(AccessToken.for_user(User(5))).encode().split(b".")
    claims = json.loads(base64.urlsafe_b64decode(payload + b"=="))
    claims["user_id"] = "1"
    forged = header + b"." + b64(json.dumps(claims).encode()) + b"." + signature
    assert fast_verify(forged, key=KEY) is None
    with pytest.raises(InvalidToken):
        authenticate(forged)


def test_pyjwt_agrees_on_every_token_the_fast_path_accepts():
    for pk in range(1, 30):
        raw = str(AccessToken.for_user(User(pk))).encode()
        fast = fast_verify(raw, key=KEY)
        slow = jwt.decode(raw, settings.SECRET_KEY, algorithms=["HS256"])
        assert fast == slow


@pytest.mark.parametrize(
    "setting, value",
    [
        ("AUDIENCE", "shop"),
        ("ISSUER", "us"),
        ("LEEWAY", 5),
        ("ALGORITHM", "HS512"),
        ("VERIFYING_KEY", "k"),
        ("JWK_URL", "http://x"),
        ("SIGNING_KEY", b"bytes"),
    ],
)
def test_fast_path_is_off_when_simplejwt_is_set_up_otherwise(setting, value):
    assert fast_path_keys() == (KEY,)
    with mock.patch.object(api_settings, setting, value):
        assert fast_path_keys() is None
        raw = str(AccessToken.for_user(User(3))).encode()
        with (
            mock.patch("seckill_site.authentication.fast_verify", side_effect=AssertionError("fast path used")),
            mock.patch("rest_framework_simplejwt.backends.TokenBackend.decode", return_value=good_payload()),
        ):
            user, _ = authenticate(raw)  # simplejwt's path
        assert user.id == "7"


def test_refresh_tokens_are_not_access_tokens():
    refresh = RefreshToken.for_user(User(3))
    refresh.set_exp(lifetime=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        authenticate(str(refresh).encode())


@pytest.mark.parametrize("exp", [1e20, 6.776803619167680e16, 2**63])
def test_a_signed_token_with_an_absurd_expiry_is_refused_not_a_crash(exp):
    # Found by the property test: simplejwt turned exp 6.8e16 into an OSError (a 500) and 1e20 into an
    # OverflowError.
    raw = sign(HS256, good_payload(exp=exp))
    with pytest.raises(InvalidToken):
        authenticate(raw)


def test_a_token_verified_once_is_refused_once_it_expires():
    # The second request of a buyer is answered from the cache of verified tokens: it must still expire.
    from seckill_site.authentication import verified_payload

    now = int(time.time())
    raw = sign(HS256, good_payload(exp=now + 60, iat=now - 10))
    assert authenticate(raw)[0].id == "7"
    with mock.patch("seckill_site.authentication.fast_verify", side_effect=AssertionError("not from the cache")):
        assert authenticate(raw)[0].id == "7"
        assert verified_payload(raw, (KEY,))["user_id"] == "7"
    with mock.patch("time.time", return_value=now + 60):
        assert verified_payload(raw, (KEY,)) is None  # not from the cache, and fast_verify finds it expired


def test_the_cache_of_verified_tokens_answers_only_for_the_key_that_verified_them():
    from seckill_site.authentication import verified_payload

    raw = str(AccessToken.for_user(User(8))).encode()
    assert authenticate(raw)[0].id == "8"
    assert verified_payload(raw, (KEY,))["user_id"] == "8"
    assert verified_payload(raw, (b"another key, rotated in",)) is None


def test_the_cache_of_verified_tokens_is_bounded():
    from seckill_site import authentication

    raws = [str(AccessToken.for_user(User(i))).encode() for i in range(1, 40)]
    with mock.patch.object(authentication, "VERIFIED_CACHE_SIZE", 16):
        for i, raw in enumerate(raws, start=1):
            assert authenticate(raw)[0].id == str(i)
            assert len(authentication._verified) <= 16


def test_fast_user_id_takes_the_headers_simplejwt_takes_and_nothing_else():
    # What seckill/purchases/early_answers.py answers from: a header simplejwt would refuse or parse otherwise gives
    # None.
    from seckill_site.authentication import fast_user_id

    now = int(time.time())
    raw = sign(HS256, good_payload(exp=now + 60, iat=now - 10)).decode()
    assert fast_user_id(f"Bearer {raw}") == 7
    assert fast_user_id(f"Bearer  {raw} ".encode()) == 7  # (split on whitespace, as simplejwt splits it)
    for header in (None, "", f"Token {raw}", f"Bearer {raw} extra", "Bearer", f"Bearer {raw[:-2]}xx", "Bearer é"):
        assert fast_user_id(header) is None, header
    expired = sign(HS256, good_payload(exp=now - 1, iat=now - 10)).decode()
    assert fast_user_id(f"Bearer {expired}") is None


# --- key rotation: SECRET_KEY_FALLBACKS --------------------------------------------------------------------------
OLD = "an-old-key-of-the-shop-" + "Qw3rTy" * 6  # strong enough for the settings' check


@pytest.mark.parametrize("path", ["fast", "simplejwt"])
def test_a_token_signed_with_a_former_key_passes_while_it_is_a_fallback(settings, path):
    """Rotating DJANGO_SECRET_KEY must not log every buyer out: a token signed with the former key is accepted while
    that key is in SECRET_KEY_FALLBACKS, by the fast check and by simplejwt's (a token the fast check leaves to it:
    an extra claim), and refused once it is removed. New tokens are signed with the current key only."""
    extra = {} if path == "fast" else {"scope": "x"}  # (a claim the fast path does not take)
    now = int(time.time())
    raw = sign(HS256, good_payload(exp=now + 600, iat=now - 10, **extra), key=OLD.encode())
    with pytest.raises(InvalidToken):
        authenticate(raw)
    settings.SECRET_KEY_FALLBACKS = [OLD]
    assert authenticate(raw)[0].id == "7"
    fresh = str(AccessToken.for_user(User(9)))
    assert jwt.decode(fresh, KEY, algorithms=["HS256"])["user_id"] == "9"  # signed with the current key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(fresh, OLD, algorithms=["HS256"])
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(InvalidToken):
        authenticate(raw)


def test_an_expired_token_of_a_former_key_stays_expired(settings):
    settings.SECRET_KEY_FALLBACKS = [OLD]
    now = int(time.time())
    with pytest.raises(InvalidToken):
        authenticate(sign(HS256, good_payload(exp=now - 5, iat=now - 100, scope="x"), key=OLD.encode()))
