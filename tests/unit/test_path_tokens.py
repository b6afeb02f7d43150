"""Purchase paths (seckill/antibot/paths.py): each kind of bad path gets its own refusal; a path is ours only."""

import time

import pytest

from seckill.antibot import errors
from seckill.antibot.paths import path_token_check, path_token_make

NOW = int(time.time() * 1000)
LATER = NOW + 60_000


def good(user_id=7, product_id=3, expires_ms=LATER):
    return path_token_make(user_id=user_id, product_id=product_id, expires_ms=expires_ms)


def forged(token):
    """The token with the last character of its mac changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_a_path_checks_for_its_buyer_and_product_until_it_expires():
    token = good()
    claim = path_token_check(token, user_id=7, product_id=3, now_ms=NOW)
    assert claim.expires_ms == LATER and len(claim.nonce) == 32
    assert good() != token, "each path has a nonce of its own"


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: None, errors.PathRequired),
        (lambda: "", errors.PathRequired),
        (lambda: "not-a-path", errors.PathInvalid),
        (lambda: good() + "x", errors.PathInvalid),
        (lambda: forged(good()), errors.PathInvalid),  # a mac not ours
        (lambda: good().replace("3.7.", "3.8.", 1), errors.PathInvalid),  # a field changed: the mac says so
        (lambda: "3.7." + good().split(".", 2)[2] * 3, errors.PathInvalid),  # too long
        (lambda: good(user_id=8), errors.PathOtherBuyer),
        (lambda: good(product_id=4), errors.PathOtherProduct),
        (lambda: good(expires_ms=NOW), errors.PathExpired),
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "trailing",
        "forged-mac",
        "edited",
        "too-long",
        "other-buyer",
        "other-product",
        "expired",
    ],
)
def test_each_bad_path_has_its_own_refusal(make, error):
    with pytest.raises(error):
        path_token_check(make(), user_id=7, product_id=3, now_ms=NOW)


def test_a_path_made_with_another_secret_is_not_ours(settings):
    token = good()
    settings.SECRET_KEY = "another-" + "x" * 50
    with pytest.raises(errors.PathInvalid):
        path_token_check(token, user_id=7, product_id=3, now_ms=NOW)


def test_each_refusal_has_a_distinct_code_and_a_4xx_status():
    kinds = [
        errors.PathRequired,
        errors.PathInvalid,
        errors.PathOtherBuyer,
        errors.PathOtherProduct,
        errors.PathExpired,
        errors.PathUsed,
    ]
    assert len({kind.code for kind in kinds}) == len(kinds)
    assert all(400 <= kind.http_status < 500 for kind in kinds)
