"""Table-driven: every malformed purchase request gets a clear 4xx with a code, never a 500, never a sale."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from products.models import Product
from seckill.gate import stock as gate
from seckill.models import Order
from tests.support.http import api_client

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"

CASES = [
    # (name, raw body, content type, expected status, expected code)
    ("not json", b"{product_id: 1", "application/json", 400, "invalid_request"),
    ("empty body", b"", "application/json", 400, "invalid_request"),
    ("json array", b"[1, 2]", "application/json", 400, "invalid_request"),
    ("json string", b'"buy"', "application/json", 400, "invalid_request"),
    ("null id", b'{"product_id": null}', "application/json", 400, "invalid_request"),
    ("string id", b'{"product_id": "one"}', "application/json", 400, "invalid_request"),
    ("bool id", b'{"product_id": true}', "application/json", 400, "invalid_request"),
    ("fractional id", b'{"product_id": 1.5}', "application/json", 400, "invalid_request"),
    ("object id", b'{"product_id": {"$gt": 0}}', "application/json", 400, "invalid_request"),
    ("negative id", b'{"product_id": -1}', "application/json", 400, "invalid_request"),
    ("huge id", b'{"product_id": 18446744073709551616}', "application/json", 400, "invalid_request"),
    ("overflowing float id", b'{"product_id": 1e400}', "application/json", 400, "invalid_request"),
    (
        "huge quantity",
        b'{"product_id": PID, "quantity": 99999999999999999999}',
        "application/json",
        400,
        "invalid_request",
    ),
    ("zero quantity", b'{"product_id": PID, "quantity": 0}', "application/json", 400, "invalid_request"),
    ("unknown field", b'{"product_id": PID, "price": 0}', "application/json", 400, "invalid_request"),
    ("not utf-8", b'{"product_id": "\xff\xfe"}', "application/json", 400, "invalid_request"),
    ("deep nesting", b"[" * 2000 + b"]" * 2000, "application/json", 400, "invalid_request"),
    (
        "oversized",
        b'{"product_id": PID, "pad": "' + b"x" * 10_000 + b'"}',
        "application/json",
        413,
        "payload_too_large",
    ),
    ("form encoded", b"product_id=PID", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("plain text", b"PID", "text/plain", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize("name, body, content_type, status, code", CASES, ids=[c[0] for c in CASES])
def test_malformed_purchase_request_is_a_clear_4xx(
    worker, make_buyers, make_product, name, body, content_type, status, code
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    body = body.replace(b"PID", str(product.pk).encode())

    response = api_client(user).generic("POST", BUY, body, content_type=content_type)

    assert response.status_code == status, response.content[:300]
    assert response.json()["code"] == code
    assert "detail" in response.json()
    assert not Order.objects.exists()
    assert Product.objects.get(pk=product.pk).stock_left == 3
    assert gate.live_stock([product.pk]) == {product.pk: 3}


def test_malformed_idempotency_key_is_a_400(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    response = api_client(user).post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 65)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not Order.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_wrong_method_is_a_405_with_a_code(worker, make_buyers, method):
    (user,) = make_buyers(1)
    response = getattr(api_client(user), method)(BUY)
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize("url", ["/api/seckill/", "/api/auth/token/", "/api/products/"])
def test_deeply_nested_json_is_a_400_not_a_500(clean_redis, transactional_db, url):
    # A user who may add products, so that the products endpoint parses the body instead of refusing the caller.
    staff = get_user_model().objects.create_user("staff", password="staff-password", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="add_product"))
    body = "[" * 2000 + "]" * 2000  # deeper than json.loads recurses, within the body size limit
    response = api_client(staff).post(url, data=body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_unknown_api_route_answers_json_404(clean_redis, transactional_db):
    response = api_client().get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}
