"""Tokens and access, as a table: each kind of bad token, and each attempt on another buyer's things, is refused
with its documented code (docs/API.md) and changes nothing."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.http import api_client, token_for
from tests.support.polling import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header: dict, claims: dict, key: bytes, digest=hashlib.sha256) -> str:
    head = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(hmac.digest(key, head.encode(), digest))


def bad_token(kind: str, user) -> str:
    now = int(time.time())
    claims = {"token_type": "access", "exp": now + 600, "iat": now, "jti": uuid.uuid4().hex, "user_id": str(user.pk)}
    key = settings.SECRET_KEY.encode()
    return {
        "forged": lambda: signed({"alg": "HS256", "typ": "JWT"}, claims, b"a key this service never had"),
        "expired": lambda: signed({"alg": "HS256", "typ": "JWT"}, {**claims, "exp": now - 5, "iat": now - 60}, key),
        "refresh_as_access": lambda: str(RefreshToken.for_user(user)),
        "alg_none": lambda: b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(claims).encode()) + ".",
        "alg_hs384": lambda: signed({"alg": "HS384", "typ": "JWT"}, claims, key, hashlib.sha384),
        "truncated": lambda: str(AccessToken.for_user(user))[:-5],
        "garbage": lambda: "not-a-token",
    }[kind]()


@pytest.mark.parametrize(
    "kind", ["forged", "expired", "refresh_as_access", "alg_none", "alg_hs384", "truncated", "garbage"]
)
def test_a_bad_token_is_401_authentication_failed_everywhere_and_sells_nothing(
    clean_redis, make_buyers, make_product, kind
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    client = api_client(token=bad_token(kind, user))
    for method, url, body in (("post", "/api/seckill/", {"product_id": product.pk}), ("get", "/api/orders/", None)):
        response = getattr(client, method)(url, body, format="json")
        assert (response.status_code, response.json()["code"]) == (401, "authentication_failed"), (kind, url)
    assert not Order.objects.exists()


def test_a_deactivated_buyers_valid_token_is_403_user_inactive(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    client = api_client(user)
    user.is_active = False
    user.save()  # (every web process learns it within a second; this one at once: the test's database commits)

    def refused():
        response = client.post("/api/seckill/", {"product_id": product.pk}, format="json")
        return (response.status_code, response.json()["code"]) == (403, "user_inactive")

    assert wait_for(refused, 2, 0.1)
    assert not Order.objects.exists()


def test_another_buyers_order_and_request_are_404_to_me(clean_redis, make_buyers, make_product, settings):
    settings.SECKILL_DEMO_PAYMENTS = True
    owner, other = make_buyers(2)
    product = make_product(stock_total=2)
    outcome = decisions.purchase_process(
        PurchaseRequest(request_id=uuid.uuid4().hex, user_id=owner.pk, product_id=product.pk, quantity=1)
    )
    me = api_client(token=token_for(other))
    attempts = {
        "order": me.get(f"/api/orders/{outcome.order_id}/"),
        "pay": me.post(f"/api/orders/{outcome.order_id}/pay/"),
        "cancel": me.post(f"/api/orders/{outcome.order_id}/cancel/"),
        "request": me.get(f"/api/seckill/requests/{outcome.request_id}/"),
    }
    assert {name: (r.status_code, r.json()["code"]) for name, r in attempts.items()} == {
        "order": (404, "order_not_found"),
        "pay": (404, "order_not_found"),
        "cancel": (404, "order_not_found"),
        "request": (404, "not_found"),
    }
    assert Order.objects.get(pk=outcome.order_id).status == Order.Status.PENDING_PAYMENT  # untouched
    assert me.get("/api/orders/").json()["results"] == []
