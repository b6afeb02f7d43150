import pytest
from django.core import signing
from django.test import override_settings

from seckill.access.purchase_tokens import purchase_token_make, purchase_token_verify


def test_token_round_trips_its_claim():
    claim = purchase_token_verify(purchase_token_make(order_id=7, user_id=3, product_id=11))
    assert (claim.order_id, claim.user_id, claim.product_id) == (7, 3, 11)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("7:3:11", "7:4:11", 1),  # someone else's user id
        lambda t: t.replace("7:3:11", "8:3:11", 1),  # another order
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a changed signature
        lambda t: "7:3:11",  # no signature at all (the seed design's forgeable token)
        lambda t: "",
    ],
)
def test_tampered_token_is_rejected(tamper):
    token = purchase_token_make(order_id=7, user_id=3, product_id=11)
    with pytest.raises(signing.BadSignature):
        purchase_token_verify(tamper(token))


def test_token_made_with_another_secret_is_rejected():
    with override_settings(SECRET_KEY="another-secret-entirely"):
        forged = purchase_token_make(order_id=7, user_id=3, product_id=11)
    with pytest.raises(signing.BadSignature):
        purchase_token_verify(forged)


def test_tokens_survive_a_key_rotation_through_the_fallbacks():
    with override_settings(SECRET_KEY="old-secret-of-the-shop-xxxxxxxxxxxxxxxxxxxxxxxxx"):
        token = purchase_token_make(order_id=5, user_id=6, product_id=7)
    with override_settings(
        SECRET_KEY="new-secret-of-the-shop-yyyyyyyyyyyyyyyyyyyyyyyyy",
        SECRET_KEY_FALLBACKS=["old-secret-of-the-shop-xxxxxxxxxxxxxxxxxxxxxxxxx"],
    ):
        assert purchase_token_verify(token).order_id == 5
    with (
        override_settings(SECRET_KEY="new-secret-of-the-shop-yyyyyyyyyyyyyyyyyyyyyyyyy"),
        pytest.raises(signing.BadSignature),  # the old key no longer trusted
    ):
        purchase_token_verify(token)
