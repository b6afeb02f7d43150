"""Products: the public API, staff edits, and stock reaching the Redis gate as deltas."""

import json
import time
from io import StringIO

import pytest
import redis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command

from products.models import Product
from seckill.catalogue import services as catalogue_services
from seckill.errors import StockConflict
from seckill.gate import stock as gate
from seckill.models import Order
from tests.support.data import in_the_future, in_the_past
from tests.support.http import api_client
from tests.support.invariants import assert_gate_and_ledger_agree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(make_buyers):
    """A catalogue manager: may add and change products (Django's model permissions), nothing else."""
    user = get_user_model().objects.create_user("staff", password="staff-password", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_product", "change_product"]))
    return user


def test_product_list_and_detail_are_public_with_live_stock_and_status(clean_redis, make_product):
    active = make_product(name="Now", stock_total=3)
    upcoming = make_product(name="Soon", start_time=in_the_future(1), end_time=in_the_future(2))
    ended = make_product(name="Gone", start_time=in_the_past(2), end_time=in_the_past(1))
    disabled = make_product(name="Off", is_enabled=False)
    sold_out = make_product(name="Empty", stock_total=1)
    gate.adjust_stock(product_id=active.pk, delta=-1)  # a live sale, ahead of the ledger
    gate.adjust_stock(product_id=sold_out.pk, delta=-1)

    listing = api_client().get("/api/products/")
    assert listing.status_code == 200
    assert listing.json()["count"] == 5
    by_id = {p["id"]: p for p in listing.json()["results"]}
    assert by_id[active.pk]["stock_left"] == 2 and by_id[active.pk]["status"] == "active"
    assert by_id[upcoming.pk]["status"] == "upcoming"
    assert by_id[ended.pk]["status"] == "ended"
    assert by_id[disabled.pk]["status"] == "disabled"
    assert by_id[sold_out.pk]["status"] == "sold_out"
    detail = api_client().get(f"/api/products/{active.pk}/").json()
    expected = {
        "id",
        "name",
        "price",
        "start_time",
        "end_time",
        "stock_total",
        "stock_left",
        "per_user_limit",
        "status",
    }
    assert expected <= set(detail)
    assert api_client().get("/api/products/999999/").json()["code"] == "product_not_found"


def test_server_time_is_public(clean_redis):
    body = api_client().get("/api/time/").json()
    assert {"now", "epoch_ms"} <= set(body)


def test_only_users_with_the_model_permissions_may_create_or_edit(clean_redis, make_buyers, staff, make_product):
    (buyer,) = make_buyers(1)
    product = make_product()
    body = {"name": "New", "stock_total": 5}
    assert api_client().post("/api/products/", body, format="json").status_code == 401
    assert api_client(buyer).post("/api/products/", body, format="json").status_code == 403
    assert api_client(buyer).patch(f"/api/products/{product.pk}/", {"name": "x"}, format="json").status_code == 403
    bare_staff = get_user_model().objects.create_user("bare", password="x", is_staff=True)  # staff, no permission
    assert api_client(bare_staff).post("/api/products/", body, format="json").status_code == 403
    viewer = get_user_model().objects.create_user("viewer", password="x")
    viewer.user_permissions.add(Permission.objects.get(codename="add_product"))  # may add, not change
    assert api_client(viewer).patch(f"/api/products/{product.pk}/", {"name": "x"}, format="json").status_code == 403

    created = api_client(staff).post("/api/products/", {**body, "per_user_limit": 2}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["stock_left"] == 5
    assert gate.live_stock([created.json()["id"]]) == {created.json()["id"]: 5}

    edited = api_client(staff).patch(f"/api/products/{product.pk}/", {"name": "Renamed"}, format="json")
    assert edited.status_code == 200 and edited.json()["name"] == "Renamed"


def test_staff_create_rejects_a_window_that_ends_before_it_starts(clean_redis, staff):
    body = {
        "name": "Bad",
        "stock_total": 1,
        "start_time": in_the_future(2).isoformat(),
        "end_time": in_the_future(1).isoformat(),
    }
    response = api_client(staff).post("/api/products/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"
    assert not Product.objects.exists()


def test_adding_stock_is_a_delta_on_the_live_counter_never_a_reset(clean_redis, make_product):
    product = make_product(stock_total=10)
    gate.adjust_stock(product_id=product.pk, delta=-4)  # four sales in flight, not yet in the ledger
    catalogue_services.product_update(product=product, stock_total=15)
    assert gate.live_stock([product.pk]) == {product.pk: 11}  # 6 unsold + 5 added, not the ledger's 15
    product.refresh_from_db()
    assert (product.stock_total, product.stock_left) == (15, 15)


def test_removing_stock_takes_only_unsold_units(clean_redis, make_product):
    product = make_product(stock_total=10)
    gate.adjust_stock(product_id=product.pk, delta=-7)  # 3 unsold in the gate
    with pytest.raises(StockConflict):
        catalogue_services.product_update(product=product, stock_total=6)  # would remove 4
    assert gate.live_stock([product.pk]) == {product.pk: 3}
    catalogue_services.product_update(product=Product.objects.get(pk=product.pk), stock_total=7)
    assert gate.live_stock([product.pk]) == {product.pk: 0}
    assert Product.objects.get(pk=product.pk).stock_total == 7


def test_staff_stock_edit_through_the_api(clean_redis, staff, make_product):
    product = make_product(stock_total=4)
    response = api_client(staff).patch(f"/api/products/{product.pk}/", {"stock_total": 6}, format="json")
    assert response.status_code == 200 and response.json()["stock_left"] == 6
    conflict = api_client(staff).patch(f"/api/products/{product.pk}/", {"stock_total": -1}, format="json")
    assert conflict.status_code == 400


def test_gate_lost_by_redis_reloads_from_the_ledger_with_its_buyers(worker, make_buyers, make_product):
    buyer, other = make_buyers(2)
    product = make_product(stock_total=3)
    assert api_client(buyer).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 200
    gate.forget_product(product.pk)  # what a Redis restart without persistence does

    again = api_client(buyer).post("/api/seckill/", {"product_id": product.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_purchased"
    assert api_client(other).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 200
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert Order.objects.count() == 2


def test_create_product_command_prints_the_product_as_json(clean_redis):
    out = StringIO()
    call_command(
        "create_product", "--name", "Cmd", "--stock", "7", "--price", "1.50", "--per-user-limit", "2", stdout=out
    )
    data = json.loads(out.getvalue())
    assert data["name"] == "Cmd" and data["stock_left"] == 7 and data["per_user_limit"] == 2
    assert data["status"] == "active"
    assert gate.live_stock([data["id"]]) == {data["id"]: 7}


def test_create_product_command_accepts_a_window(clean_redis):
    out = StringIO()
    call_command(
        "create_product",
        "--name",
        "Later",
        "--stock",
        "1",
        "--starts",
        "2099-01-01T10:00:00Z",
        "--ends",
        "2099-01-01T11:00:00+00:00",
        stdout=out,
    )
    assert json.loads(out.getvalue())["status"] == "upcoming"


def test_product_list_is_paginated_by_limit_and_offset(clean_redis, make_product):
    ids = [make_product(name=f"P{i}").pk for i in range(3)]
    page = api_client().get("/api/products/", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 3 and [p["id"] for p in page["results"]] == ids[1:]
    assert page["next"] is None and page["previous"] is not None


def test_two_stale_stock_edits_do_not_both_apply(clean_redis, make_product):
    product = make_product(stock_total=10)
    stale = Product.objects.get(pk=product.pk)
    catalogue_services.product_update(product=product, stock_total=15)
    with pytest.raises(StockConflict):
        catalogue_services.product_update(product=stale, stock_total=15)
    assert Product.objects.get(pk=product.pk).stock_total == 15
    assert gate.live_stock([product.pk]) == {product.pk: 15}


def test_a_stock_removal_whose_transaction_rolls_back_leaves_the_gate_as_it_was(clean_redis, make_product):
    from django.db import transaction

    product = make_product(stock_total=10)
    with pytest.raises(RuntimeError), transaction.atomic():
        catalogue_services.product_update(product=product, stock_total=4)
        raise RuntimeError("the commit fails")  # anything after the edit that rolls the transaction back
    assert gate.live_stock([product.pk]) == {product.pk: 10}
    assert Product.objects.get(pk=product.pk).stock_total == 10
    catalogue_services.product_update(product=Product.objects.get(pk=product.pk), stock_total=4)
    assert gate.live_stock([product.pk]) == {product.pk: 4}
    assert_gate_and_ledger_agree(product.pk)


def test_product_page_answers_304_to_its_etag_and_may_be_cached_a_second(clean_redis, make_product):
    product = make_product(stock_total=5)

    first = api_client().get(f"/api/products/{product.pk}/")
    again = api_client().get(f"/api/products/{product.pk}/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert first["Cache-Control"] == "public, max-age=1"
    assert again.status_code == 304 and again["ETag"] == first["ETag"] and not again.content
    other = api_client().get(f"/api/products/{product.pk}/", HTTP_IF_NONE_MATCH='"not-it"')
    assert other.status_code == 200


def test_product_page_costs_no_query_once_this_process_has_it_even_with_a_token(
    clean_redis, make_buyers, make_product, django_assert_num_queries
):
    (buyer,) = make_buyers(1)
    product = make_product(stock_total=5)
    api_client().get(f"/api/products/{product.pk}/")  # the process reads the row and the sale state once
    api_client().get("/api/products/999999/")  # ... and learns an unknown id is unknown

    with django_assert_num_queries(0):  # no product query, and no user query for the token
        page = api_client(buyer).get(f"/api/products/{product.pk}/")
        unknown = api_client(buyer).get("/api/products/999999/")

    assert page.status_code == 200 and page.json()["stock_left"] == 5
    assert unknown.status_code == 404 and unknown.json()["code"] == "product_not_found"


def test_product_page_shows_the_live_stock_within_the_cache_lifetime(clean_redis, make_product, settings):
    product = make_product(stock_total=5)
    assert api_client().get(f"/api/products/{product.pk}/").json()["stock_left"] == 5

    gate.adjust_stock(product_id=product.pk, delta=-5)  # sold in the gate, ahead of the ledger

    deadline = time.monotonic() + settings.SECKILL_LOCAL_CACHE_TTL + 1
    page = api_client().get(f"/api/products/{product.pk}/").json()
    while page["stock_left"] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        page = api_client().get(f"/api/products/{product.pk}/").json()
    assert (page["stock_left"], page["status"]) == (0, "sold_out")


def test_product_page_shows_the_ledger_stock_when_redis_is_down(clean_redis, make_product, monkeypatch):
    product = make_product(stock_total=5)
    monkeypatch.setattr(gate, "sale_state", lambda product_id: (_ for _ in ()).throw(redis.ConnectionError()))

    page = api_client().get(f"/api/products/{product.pk}/")

    assert page.status_code == 200 and page.json()["stock_left"] == 5


def test_staff_edits_with_redis_down_answer_503_or_save_never_500(clean_redis, staff, make_product, monkeypatch):
    product = make_product(stock_total=5)

    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(gate, "live_stock", redis_down)
    monkeypatch.setattr(gate, "load_product", redis_down)
    monkeypatch.setattr(gate, "meta_set", redis_down)
    client = api_client(staff)
    # A removal cannot be checked against the units the gate has not sold: refused, nothing changed.
    response = client.patch(f"/api/products/{product.pk}/", {"stock_total": 3}, format="json")
    assert (response.status_code, response.json()["code"]) == (503, "unavailable")
    assert Product.objects.get(pk=product.pk).stock_total == 5
    # Neither is a change of the sale's configuration: a sale disabled in the database, not in the gate, would sell.
    response = client.patch(f"/api/products/{product.pk}/", {"is_enabled": False}, format="json")
    assert (response.status_code, response.json()["code"]) == (503, "unavailable")
    assert Product.objects.get(pk=product.pk).is_enabled
    # A new product is saved; the gate loads it from the ledger at its first request once Redis is back.
    response = client.post("/api/products/", {"name": "Saved anyway", "stock_total": 2}, format="json")
    assert response.status_code == 201 and Product.objects.filter(name="Saved anyway").exists()


@pytest.mark.parametrize("query", ["limit=null", "limit=0", "limit=1.5", "offset=-1", "offset=abc", f"offset={2**63}"])
def test_a_page_parameter_that_is_no_whole_number_in_range_is_400(clean_redis, query):
    response = api_client().get(f"/api/products/?{query}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_a_page_size_above_the_maximum_is_cut_to_it(clean_redis, make_product, monkeypatch):
    from seckill.catalogue.api import ProductPagination

    monkeypatch.setattr(ProductPagination, "max_limit", 1)
    make_product()
    make_product()
    response = api_client().get(f"/api/products/?limit={10**30}")
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    assert "limit=1" in response.json()["next"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "stock_total": 1, "is_enabled": 0}, "is_enabled"),
        ({"name": "x", "stock_total": "1"}, "stock_total"),
        ({"name": 5, "stock_total": 1}, "name"),
        ({"name": "x", "stock_total": 1, "price": 5}, "price"),
        ({"name": "x", "stock_total": 1, "stok_total": 1}, "stok_total"),
    ],
)
def test_a_product_body_is_taken_as_the_schema_says_it(clean_redis, staff, body, field):
    """JSON types as the schema gives them (DRF would take 0 for false, "1" for 1) and no unknown field."""
    response = api_client(staff).post("/api/products/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert field in response.json()["errors"] and not Product.objects.exists()
