"""The answers given before DRF (seckill/purchases/early_answers.py), a plain purchase and the product page: each
is the answer the DRF view gives (status, body, headers, metrics), and every other request still reaches the DRF
view. Real Redis (the sale state)."""

import json
from datetime import datetime
from unittest import mock

import pytest
from django.test import Client, override_settings

from seckill.access import blacklist, guards
from seckill.catalogue import api as catalogue_api
from seckill.ops import metrics
from seckill.purchases import api as purchase_api
from seckill.purchases import sale_cache
from tests.support.data import in_the_future, in_the_past
from tests.support.http import token_for

BUY = "/api/seckill/"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_redis")]


@pytest.fixture(autouse=True)
def long_lived_sale_cache():
    # The process' copy of the sale state must outlive the test's few requests, however slow the machine.
    with override_settings(SECKILL_LOCAL_CACHE_TTL=60):
        yield


@pytest.fixture
def drf_posts():
    """The DRF view's handling of a request (SeckillBuyApi.dispatch), counted (still run)."""
    with mock.patch.object(
        purchase_api.SeckillBuyApi, "dispatch", autospec=True, side_effect=purchase_api.SeckillBuyApi.dispatch
    ) as dispatch:
        yield dispatch


def post(token=None, body=None, content_type="application/json", **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(BUY, data, content_type=content_type, **headers)


def answer(response) -> tuple:
    return response.status_code, response.content, sorted(response.headers.items())


def answered_count(code: str, product_id) -> float:
    return metrics.PURCHASE_ANSWERS.labels(code, str(product_id))._value.get()


@pytest.mark.parametrize(
    "product_fields, body_fields, code",
    [
        (dict(stock_total=0), {}, "sold_out"),
        (dict(start_time=in_the_future(1), end_time=in_the_future(2)), {}, "sale_not_started"),
        (dict(start_time=in_the_past(2), end_time=in_the_past(1)), {}, "sale_ended"),
        (dict(is_enabled=False), {}, "sale_disabled"),
        (dict(stock_total=5, per_user_limit=1), {"quantity": 2}, "invalid_request"),
    ],
)
def test_a_refusal_is_the_drf_views_answer_without_the_view(
    make_buyers, make_product, drf_posts, product_fields, body_fields, code
):
    (user,) = make_buyers(1)
    product = make_product(**product_fields)
    token, body = token_for(user), {"product_id": product.pk, **body_fields}

    first = post(token, body)  # this process has no copy of the sale state yet: it reads it
    counted = answered_count(code, product.pk)
    fast = post(token, body)  # from the cached sale state
    assert drf_posts.call_count == 0, "answered before the DRF view"
    assert answered_count(code, product.pk) == counted + 1, "counted once, as the view counts it"
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post(token, body)
    assert drf_posts.call_count == 1

    assert fast.json()["code"] == code
    assert answer(fast) == answer(slow) == answer(first)
    assert fast["Allow"] == "POST, OPTIONS"


@pytest.mark.parametrize(
    "case",
    ["no token", "bad token", "extra field", "string id", "not json", "form body"],
)
def test_every_other_request_reaches_the_drf_view(make_buyers, make_product, drf_posts, case):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    token, body = token_for(user), {"product_id": product.pk}
    post(token, body)  # the sale state is cached from here
    before = drf_posts.call_count
    kwargs = dict(token=token, body=body)
    if case == "no token":
        kwargs["token"] = None
    elif case == "bad token":
        kwargs["token"] = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif case == "extra field":
        kwargs["body"] = {**body, "coupon": "x"}
    elif case == "string id":
        kwargs["body"] = {"product_id": str(product.pk)}
    elif case == "not json":
        kwargs["body"] = "{"
    elif case == "form body":
        kwargs["body"], kwargs["content_type"] = f"product_id={product.pk}", "application/x-www-form-urlencoded"

    fast = post(**kwargs)
    assert drf_posts.call_count == before + 1
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post(**kwargs)
    assert answer(fast) == answer(slow)
    assert fast.status_code != 200


def test_an_unknown_product_is_refused_as_the_drf_view_refuses_it(make_buyers, drf_posts):
    (user,) = make_buyers(1)
    token, body = token_for(user), {"product_id": 987654}
    first = post(token, body)  # remembered as unknown from here
    fast = post(token, body)
    assert drf_posts.call_count == 0
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post(token, body)
    assert fast.json()["code"] == "product_not_found"
    assert answer(fast) == answer(slow) == answer(first)


def test_a_failure_before_drf_leaves_the_request_to_the_drf_view(make_buyers, make_product, drf_posts):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    token, body = token_for(user), {"product_id": product.pk}
    post(token, body)
    with mock.patch("seckill.purchases.early_answers._plain_body", side_effect=RuntimeError("a bug")):
        response = post(token, body)
    assert drf_posts.call_count == 1
    assert response.status_code == 409 and response.json()["code"] == "sold_out"


@pytest.mark.parametrize("before_drf", [True, False])
def test_a_failure_once_the_purchase_is_on_its_way_is_a_500_never_a_second_attempt(
    make_buyers, make_product, drf_posts, before_drf
):
    # The request may be submitted by then: DRF must not run it again. The answer is DRF's handler's.
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    submit = mock.patch.object(purchase_api, "purchase_submit", autospec=True, side_effect=RuntimeError("a bug"))
    with override_settings(SECKILL_BEFORE_DRF=before_drf), submit as submitted:
        response = post(token_for(user), {"product_id": product.pk})
    assert submitted.call_count == 1 and drf_posts.call_count == (0 if before_drf else 1)
    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "detail": "Internal server error."}


@pytest.mark.parametrize("case", ["idempotency key", "blacklisted"])
def test_a_keyed_or_refused_caller_is_answered_before_drf_as_the_view_answers(
    make_buyers, make_product, drf_posts, case
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    token, body = token_for(user), {"product_id": product.pk}
    headers = {}
    if case == "idempotency key":
        headers["HTTP_IDEMPOTENCY_KEY"] = "k1"
    else:
        blacklist.blacklist_add(kind="user", value=str(user.pk), reason="test")
        blacklist._snapshot = blacklist._Snapshot()  # (this process looks again at once)
    fast = post(token, body, **headers)
    assert drf_posts.call_count == 0
    if case == "idempotency key":  # (the same key again would replay the first answer)
        headers["HTTP_IDEMPOTENCY_KEY"] = "k2"
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post(token, body, **headers)
    assert drf_posts.call_count == 1
    assert answer(fast) == answer(slow)
    assert fast.json()["code"] == ("sold_out" if case == "idempotency key" else "blacklisted")


@pytest.mark.worker
@pytest.mark.parametrize("before_drf", [True, False])
def test_a_purchase_is_checked_once_and_asks_the_sale_cache_once(worker, make_buyers, make_product, before_drf):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    post(token_for(make_buyers(1, prefix="warm")[0]), {"product_id": product.pk})  # the sale state is cached
    token, body = token_for(user), {"product_id": product.pk}
    guard = mock.patch("seckill.access.guards.purchase_guard", autospec=True, side_effect=guards.purchase_guard)
    valid = mock.patch.object(
        purchase_api.SeckillBuyApi, "input_valid", autospec=True, side_effect=purchase_api.SeckillBuyApi.input_valid
    )
    cache = mock.patch(
        "seckill.purchases.services.sale_check_cached", autospec=True, side_effect=sale_cache.sale_check_cached
    )
    with override_settings(SECKILL_BEFORE_DRF=before_drf), guard as guarded, valid as validated, cache as cached:
        response = post(token, body)
    assert response.status_code == 200 and response.json()["code"] == "success"
    assert response.json()["user_id"] == user.pk and response.json()["product_id"] == product.pk
    assert guarded.call_count == 1 and cached.call_count == 1
    assert validated.call_count == (0 if before_drf else 1)


@pytest.fixture
def drf_pages():
    """The DRF view's handling of a product request (ProductDetailApi.dispatch), counted (still run)."""
    cls = catalogue_api.ProductDetailApi
    with mock.patch.object(cls, "dispatch", autospec=True, side_effect=cls.dispatch) as dispatch:
        yield dispatch


def test_the_product_page_is_the_drf_views_page_without_the_view(make_buyers, make_product, drf_pages):
    (user,) = make_buyers(1)
    product = make_product(stock_total=7, start_time=in_the_future(1), end_time=in_the_future(2))
    url, auth = f"/api/products/{product.pk}/", {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}

    fast = Client().get(url, **auth)
    assert drf_pages.call_count == 0
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = Client().get(url, **auth)
    assert drf_pages.call_count == 1
    assert fast.status_code == 200 and fast.json()["stock_left"] == 7
    assert answer(fast) == answer(slow)
    assert fast["Allow"] == "GET, PATCH, HEAD, OPTIONS"

    not_modified = Client().get(url, HTTP_IF_NONE_MATCH=fast["ETag"])
    with override_settings(SECKILL_BEFORE_DRF=False):
        not_modified_slow = Client().get(url, HTTP_IF_NONE_MATCH=fast["ETag"])
    assert not_modified.status_code == 304
    assert answer(not_modified) == answer(not_modified_slow)
    assert drf_pages.call_count == 2


def test_an_unknown_product_and_a_write_reach_the_drf_view(make_product, drf_pages):
    product = make_product(stock_total=7)
    missing = Client().get("/api/products/987654/")
    assert missing.status_code == 404 and missing.json()["code"] == "product_not_found"
    assert drf_pages.call_count == 1
    write = Client().patch(f"/api/products/{product.pk}/", "{}", content_type="application/json")
    assert write.status_code == 401
    assert drf_pages.call_count == 2


# --- a purchase path (seckill/antibot/early_answers.py) ---------------------------------------------------------
@pytest.fixture
def drf_paths():
    from seckill.antibot import api as antibot_api

    with mock.patch.object(
        antibot_api.PathApi, "dispatch", autospec=True, side_effect=antibot_api.PathApi.dispatch
    ) as dispatch:
        yield dispatch


def post_path(product_id, token, body, content_type="application/json"):
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(
        f"/api/seckill/{product_id}/path/", data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_a_plain_path_request_is_answered_as_the_drf_view_answers_it(make_buyers, make_product, drf_paths):
    (user,) = make_buyers(1)
    token = token_for(user)
    guarded = make_product(stock_total=3, anti_bot="path")
    issued = post_path(guarded.pk, token, {})
    assert drf_paths.call_count == 0 and issued.status_code == 200
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post_path(guarded.pk, token, {})
    assert drf_paths.call_count == 1
    assert sorted(issued.json()) == sorted(slow.json()) == ["expires_at", "path"]
    assert issued["Cache-Control"] == slow["Cache-Control"] == "no-store"
    expiries = [datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00")) for r in (issued, slow)]
    assert abs((expiries[0] - expiries[1]).total_seconds()) < 2  # (each its own path, made a moment apart)
    assert sorted(h for h in issued.headers if h != "Content-Length") == sorted(
        h for h in slow.headers if h != "Content-Length"
    )
    # Refusals: the same bytes either way.
    challenged = make_product(stock_total=3, anti_bot="challenge")
    for product_id, body in ((challenged.pk, {}), (challenged.pk, {"solution": "bm90"}), (987654, {})):
        fast = post_path(product_id, token, body)
        with override_settings(SECKILL_BEFORE_DRF=False):
            slow = post_path(product_id, token, body)
        assert answer(fast) == answer(slow) and fast.status_code in (403, 404)
    assert drf_paths.call_count == 4


@pytest.mark.parametrize("body", [{"solution": ""}, {"solution": " x"}, {"solution": 5}, {"other": 1}, "{", []])
def test_any_other_path_request_reaches_the_drf_view(make_buyers, make_product, drf_paths, body):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3, anti_bot="challenge")
    fast = post_path(product.pk, token_for(user), body)
    assert drf_paths.call_count == 1
    with override_settings(SECKILL_BEFORE_DRF=False):
        slow = post_path(product.pk, token_for(user), body)
    assert answer(fast) == answer(slow) and fast.status_code in (400, 403)
