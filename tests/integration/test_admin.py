"""Django admin: products through the same services as the API (stock to Redis as deltas), orders read-only."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from products.models import Product
from seckill.gate import keys
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.data import in_the_future

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client():
    get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    client = Client()
    client.login(username="root", password="root-password")
    return client


def form(**overrides):
    start = in_the_future(-0.5)
    data = {
        "name": "Admin item",
        "price": "3.00",
        "stock_total": "8",
        "per_user_limit": "1",
        "start_time_0": start.strftime("%Y-%m-%d"),
        "start_time_1": start.strftime("%H:%M:%S"),
        "end_time_0": in_the_future(1).strftime("%Y-%m-%d"),
        "end_time_1": in_the_future(1).strftime("%H:%M:%S"),
        "is_enabled": "on",
        "gate_buckets": "1",
        "anti_bot": "off",
        "challenge_cost": "20000",
        "path_lead_seconds": "60",
        "max_admissions_per_second": "0",
        "sale_mode": "first_come",
    }
    data.update(overrides)
    return data


def test_admin_creates_a_product_and_loads_it_into_redis(clean_redis, admin_client):
    response = admin_client.post("/admin/products/product/add/", form())
    assert response.status_code == 302, response.content[:2000]
    product = Product.objects.get(name="Admin item")
    assert (product.stock_total, product.stock_left) == (8, 8)
    assert gate.live_stock([product.pk]) == {product.pk: 8}


def test_admin_creates_a_draw_shows_its_commitment_and_keeps_its_mode_once_on_sale(clean_redis, admin_client):
    response = admin_client.post("/admin/products/product/add/", form(name="Draw item", sale_mode="draw"))
    assert response.status_code == 302, response.content[:2000]
    product = Product.objects.get(name="Draw item")
    assert product.is_draw and clean_redis.hget(keys.meta(product.pk), "mode") == "draw"
    page = admin_client.get(f"/admin/products/product/{product.pk}/change/").content.decode()
    assert f"seed SHA-256 {product.draw.seed_sha256}" in page
    assert 'name="sale_mode"' not in page  # on sale: read only


def test_admin_stock_edit_is_a_delta_and_the_list_shows_live_stock(clean_redis, admin_client, make_product):
    product = make_product(name="Admin item", stock_total=8)
    gate.adjust_stock(product_id=product.pk, delta=-3)  # three sold in the gate, not yet in the ledger

    response = admin_client.post(f"/admin/products/product/{product.pk}/change/", form(stock_total="10"))

    assert response.status_code == 302
    assert gate.live_stock([product.pk]) == {product.pk: 7}
    assert Product.objects.get(pk=product.pk).stock_total == 10
    listing = admin_client.get("/admin/products/product/")
    assert listing.status_code == 200
    assert b'<td class="field-live_stock_left">7</td>' in listing.content


def test_admin_refuses_to_remove_sold_units(clean_redis, admin_client, make_product):
    product = make_product(name="Admin item", stock_total=8)
    gate.adjust_stock(product_id=product.pk, delta=-6)
    response = admin_client.post(f"/admin/products/product/{product.pk}/change/", form(stock_total="1"), follow=True)
    assert b"Not saved" in response.content
    assert Product.objects.get(pk=product.pk).stock_total == 8
    assert gate.live_stock([product.pk]) == {product.pk: 2}


def test_admin_delete_removes_the_redis_keys(clean_redis, admin_client, make_product):
    product = make_product(name="Doomed")
    response = admin_client.post(f"/admin/products/product/{product.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()
    assert gate.live_stock([product.pk]) == {product.pk: None}


def test_admin_orders_search_by_user_and_filter_by_product(clean_redis, admin_client, make_buyers, make_product):
    # Request ids long enough that they cannot turn up by chance in the page (a CSRF token, say).
    alice, bob = make_buyers(2, prefix="shopper")
    first, second = make_product(name="First"), make_product(name="Second")
    decisions.purchase_process(
        PurchaseRequest(request_id="order-of-alice-7f3e", user_id=alice.pk, product_id=first.pk, quantity=1)
    )
    decisions.purchase_process(
        PurchaseRequest(request_id="order-of-bob-9c1d", user_id=bob.pk, product_id=second.pk, quantity=1)
    )
    assert Order.objects.count() == 2

    found = admin_client.get("/admin/seckill/order/", {"q": alice.username})
    assert found.status_code == 200
    assert b"order-of-alice-7f3e" in found.content and b"order-of-bob-9c1d" not in found.content
    filtered = admin_client.get("/admin/seckill/order/", {"product__id__exact": second.pk})
    assert b"order-of-bob-9c1d" in filtered.content and b"order-of-alice-7f3e" not in filtered.content

    assert b"?created_at__year=" in found.content  # the list offers the date drill-down (year, month, day)
    earlier = timezone.now() - timedelta(days=40)
    Order.objects.filter(request_id="order-of-bob-9c1d").update(created_at=earlier)
    day = {"created_at__year": earlier.year, "created_at__month": earlier.month, "created_at__day": earlier.day}
    by_day = admin_client.get("/admin/seckill/order/", day)
    assert b"order-of-bob-9c1d" in by_day.content and b"order-of-alice-7f3e" not in by_day.content


def test_orders_are_never_deleted_in_the_admin_and_staff_cancel_unpaid_ones(
    clean_redis, admin_client, make_buyers, make_product
):
    from seckill.models import Order
    from tests.support.invariants import assert_gate_and_ledger_agree

    alice, bob = make_buyers(2)
    product = make_product(stock_total=2)
    for user in (alice, bob):
        decisions.purchase_process(
            PurchaseRequest(request_id=f"admin-{user.pk}", user_id=user.pk, product_id=product.pk, quantity=1)
        )
    unpaid, paid = Order.objects.get(user=alice), Order.objects.get(user=bob)
    Order.objects.filter(pk=paid.pk).update(status=Order.Status.PAID)
    assert admin_client.get(f"/admin/seckill/order/{unpaid.pk}/delete/").status_code == 403
    listing = admin_client.get("/admin/seckill/order/")
    assert b"delete_selected" not in listing.content and b"cancel_unpaid" in listing.content
    admin_client.post(
        "/admin/seckill/order/", {"action": "cancel_unpaid", "_selected_action": [unpaid.pk, paid.pk]}, follow=True
    )
    assert Order.objects.get(pk=unpaid.pk).status == Order.Status.CANCELLED
    assert Order.objects.get(pk=paid.pk).status == Order.Status.PAID  # paid orders are not cancelled
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert_gate_and_ledger_agree(product.pk)


def test_the_product_list_shows_drift_and_the_reconcile_action_repairs_it(clean_redis, admin_client, make_product):
    from seckill.gate import keys
    from seckill.gate.client import get_client
    from seckill.ops import reconcile

    product = make_product(stock_total=5)
    get_client().incrby(keys.stock(product.pk), 3)
    reconcile.reconcile_all()  # what beat does every minute
    assert b'field-drift">stock<' in admin_client.get("/admin/products/product/").content
    admin_client.post("/admin/products/product/", {"action": "reconcile_fix", "_selected_action": [product.pk]})
    assert gate.live_stock([product.pk]) == {product.pk: 5}
    assert b'field-drift">stock (fixed)<' in admin_client.get("/admin/products/product/").content
    reconcile.reconcile_all()
    assert b'field-drift">agree<' in admin_client.get("/admin/products/product/").content


def test_orders_are_found_by_purchase_token_and_exported_as_csv(clean_redis, admin_client, make_buyers, make_product):
    import csv
    import io

    from seckill.access.purchase_tokens import purchase_token_make

    users = make_buyers(3)
    product = make_product(stock_total=3)
    for user in users:
        decisions.purchase_process(
            PurchaseRequest(request_id=f"csv-{user.pk}", user_id=user.pk, product_id=product.pk, quantity=1)
        )
    wanted = Order.objects.get(user=users[1])
    token = purchase_token_make(order_id=wanted.pk, user_id=wanted.user_id, product_id=wanted.product_id)
    found = admin_client.get("/admin/seckill/order/", {"q": token}).content
    assert f"csv-{users[1].pk}".encode() in found and f"csv-{users[0].pk}".encode() not in found
    forged = admin_client.get("/admin/seckill/order/", {"q": token[:-2] + "xx"}).content
    assert b"csv-" not in forged

    exported = admin_client.post(
        "/admin/seckill/order/",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [wanted.pk]},
    )
    assert exported.streaming and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:2] == ["id", "request_id"] and len(rows) == 4  # every order, not only the one ticked
    assert {row[1] for row in rows[1:]} == {f"csv-{u.pk}" for u in users}
    listing = admin_client.get("/admin/products/product/").content
    assert b'field-sold">3<' in listing


# --- who may do what ---------------------------------------------------------------------------------------------
def staff_with(*codenames: str):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(f"staff-{uuid.uuid4().hex[:12]}", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_cancelling_orders_and_repairing_products_need_more_than_the_view_permission(
    clean_redis, make_buyers, make_product
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    order_id = decisions.purchase_process(
        PurchaseRequest(request_id="r-perm", user_id=user.pk, product_id=product.pk, quantity=1)
    ).order_id
    cancel = {"action": "cancel_unpaid", "_selected_action": [order_id]}
    repair = {"action": "reconcile_fix", "_selected_action": [product.pk]}

    viewer = staff_with("view_order", "view_product")
    assert "cancel_unpaid" not in viewer.get("/admin/seckill/order/").content.decode()
    assert "reconcile_fix" not in viewer.get("/admin/products/product/").content.decode()
    viewer.post("/admin/seckill/order/", cancel)
    assert Order.objects.get(pk=order_id).status == Order.Status.PENDING_PAYMENT  # refused: no such action

    canceller = staff_with("view_order", "cancel_order")
    assert "cancel_unpaid" in canceller.get("/admin/seckill/order/").content.decode()
    canceller.post("/admin/seckill/order/", cancel)
    assert Order.objects.get(pk=order_id).status == Order.Status.CANCELLED
    assert (
        "reconcile_fix" in staff_with("view_product", "change_product").get("/admin/products/product/").content.decode()
    )
    assert staff_with("view_product", "change_product").post("/admin/products/product/", repair).status_code == 302


def test_payments_to_refund_are_listed_and_marked_refunded_by_the_change_permission(clean_redis):
    from seckill.models import PaymentEvent

    kept = PaymentEvent.objects.create(
        event_id="evt-r",
        order_ref="9",
        amount="5.00",
        provider_status="succeeded",
        code="order_not_found",
        needs_refund=True,
    )
    viewer = staff_with("view_paymentevent")
    assert "evt-r" in viewer.get("/admin/seckill/paymentevent/?refund=due").content.decode()
    assert "mark_refunded" not in viewer.get("/admin/seckill/paymentevent/").content.decode()
    changer = staff_with("view_paymentevent", "change_paymentevent")
    changer.post("/admin/seckill/paymentevent/", {"action": "mark_refunded", "_selected_action": [kept.pk]})
    kept.refresh_from_db()
    assert kept.refunded_at is not None
    assert "evt-r" not in changer.get("/admin/seckill/paymentevent/?refund=due").content.decode()
