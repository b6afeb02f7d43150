"""Reconciliation (seckill.ops.reconcile, `manage.py reconcile`): each kind of drift is reported, then repaired by
--fix; a clean system reports nothing; Redis losing everything mid-sale is rebuilt from the ledger."""

import json
import time
import uuid
from io import StringIO

import pytest
import redis
from django.core.management import CommandError, call_command

from seckill.gate import admissions, keys
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.ops import reconcile
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.redis_db import delete_app_keys

pytestmark = pytest.mark.django_db(transaction=True)


def sell(user, product) -> Order:
    outcome = decisions.purchase_process(
        PurchaseRequest(request_id=uuid.uuid4().hex, user_id=user.pk, product_id=product.pk, quantity=1)
    )
    assert outcome.code == "success"
    return Order.objects.get(pk=outcome.order_id)


def run(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("reconcile", *args, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue()


@pytest.fixture
def selling(clean_redis, make_buyers, make_product):
    """A product mid-sale: 10 units, 3 sold."""
    product = make_product(stock_total=10)
    buyers = make_buyers(3)
    for user in buyers:
        sell(user, product)
    return product, buyers


def test_a_clean_system_reports_nothing(selling):
    product, _ = selling
    assert run() == (0, "")
    assert reconcile.reconcile_reports([product.pk])[product.pk]["drift"] == []


def test_redis_stock_off_is_reported_then_repaired_by_a_delta(selling):
    product, _ = selling
    get_client().incrby(keys.stock(product.pk), 4)  # the gate would sell 4 units the ledger does not have
    code, out = run()
    assert code == 1 and "stock" in out and "11" in out and "7" in out
    assert gate.live_stock([product.pk]) == {product.pk: 11}  # a report changes nothing
    code, out = run("--fix")
    assert code == 1 and "yes" in out
    assert gate.live_stock([product.pk]) == {product.pk: 7}
    assert run() == (0, "")
    assert_gate_and_ledger_agree(product.pk)


def test_a_missing_buyer_is_reported_then_restored(selling):
    product, buyers = selling
    get_client().hdel(keys.buyers(product.pk), buyers[0].pk)  # the gate would sell them a second order
    code, out = run("--json")
    found = json.loads(out)[str(product.pk)]
    assert code == 1 and [d["check"] for d in found] == ["buyer_missing"]
    assert run("--fix")[0] == 1 and run() == (0, "")
    assert_gate_and_ledger_agree(product.pk)


def test_a_sale_in_redis_without_its_order_is_undone_after_the_grace(selling, make_buyers, settings):
    product, _ = selling
    (late,) = make_buyers(1, prefix="late")
    request_id = "sold-no-order"
    admissions.admit(
        product_id=product.pk,
        request_id=request_id,
        quantity=1,
        factor=10,
        slot_ms=60_000,
        user_id=late.pk,
        created=time.time(),
    )
    assert gate.sell(product_id=product.pk, user_id=late.pk, request_id=request_id, quantity=1)[0] is gate.Sell.SOLD
    assert run() == (0, "")  # within the grace: its commit may still come
    settings.SECKILL_RECONCILE_GRACE = 0
    code, out = run("--fix")
    assert code == 1 and "sold_without_order" in out
    assert gate.live_stock([product.pk]) == {product.pk: 7}
    assert gate.decision_get(product_id=product.pk, request_id=request_id) == "unavailable"  # the sale is refused
    assert run() == (0, "")
    assert_gate_and_ledger_agree(product.pk)


def test_the_ledger_out_of_step_is_reported_and_repaired(selling):
    product, _ = selling
    type(product).objects.filter(pk=product.pk).update(stock_left=5)
    code, out = run("--product", str(product.pk), "--fix")
    assert code == 1 and "ledger_stock" in out
    product.refresh_from_db()
    assert product.stock_left == 7


def test_could_not_check_is_exit_status_2(selling, monkeypatch):
    with pytest.raises(CommandError) as unknown:
        call_command("reconcile", "--product", "999999")
    assert unknown.value.returncode == 2

    def redis_down(ids):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(gate, "live_stock", redis_down)
    with pytest.raises(CommandError) as down:
        call_command("reconcile")
    assert down.value.returncode == 2


def test_redis_lost_everything_mid_sale_and_the_sale_goes_on_from_the_ledger(selling, make_buyers):
    product, buyers = selling
    delete_app_keys(get_client())  # every key of the gate (the broker's own keys stay: other tests publish)
    assert run()[0] == 0  # not loaded is not drift: the next request loads it
    code, out = run("--fix")
    assert "not_loaded" in out and gate.live_stock([product.pk]) == {product.pk: 7}
    for earlier in buyers:  # nobody gets a second order
        outcome = decisions.purchase_process(
            PurchaseRequest(request_id=uuid.uuid4().hex, user_id=earlier.pk, product_id=product.pk, quantity=1)
        )
        assert outcome.code == "already_purchased"
    newcomers = make_buyers(12, prefix="new")
    codes = [
        decisions.purchase_process(
            PurchaseRequest(request_id=uuid.uuid4().hex, user_id=u.pk, product_id=product.pk, quantity=1)
        ).code
        for u in newcomers
    ]
    assert codes.count("success") == 7 and set(codes) == {"success", "sold_out"}
    assert Order.objects.filter(product=product, status__in=Order.LIVE).count() == product.stock_total
    assert_gate_and_ledger_agree(product.pk)
    assert run() == (0, "")
