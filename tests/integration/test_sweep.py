"""The sweeper answers requests whose broker message was lost (deterministic counterpart of the crash test)."""

import time

import pytest

from products.models import Product
from seckill.gate import admissions, keys, records, sync
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import sweep_pending_task
from seckill.worker import decisions, sweep
from seckill_site.celery import app as celery_app
from tests.support.http import api_client

pytestmark = pytest.mark.worker


def lose_a_message(user, product, request_id, age_s):
    """A request the access layer admitted and recorded, whose message never reached (or vanished from) the
    broker."""
    sync.stock_gate_load(product_id=product.pk)
    answer = admissions.admit(
        product_id=product.pk,
        request_id=request_id,
        quantity=1,
        factor=10,
        slot_ms=600_000,
        user_id=user.pk,
        created=time.time() - age_s,
    )[0]
    assert answer == "admitted"


def poll(client, url, deadline_s=15):
    end = time.monotonic() + deadline_s
    response = client.get(url)
    while response.status_code == 202 and time.monotonic() < end:
        time.sleep(0.05)
        response = client.get(url)
    return response


def test_sweeper_enqueues_a_lost_request_again_and_it_is_answered(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    lose_a_message(user, product, f"{product.pk}-lost-1", age_s=60)
    client = api_client(user)
    assert client.get(f"/api/seckill/requests/{product.pk}-lost-1/").status_code == 202

    counts = sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)

    assert counts["requeued"] == 1
    final = poll(client, f"/api/seckill/requests/{product.pk}-lost-1/")
    assert final.status_code == 200 and final.json()["code"] == "success"
    assert Order.objects.get(request_id=f"{product.pk}-lost-1").user_id == user.pk
    assert records.requests_pending_since(time.time(), 10) == []


def test_sweeper_leaves_young_requests_alone(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    lose_a_message(user, product, "young-1", age_s=1)
    assert sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)["requeued"] == 0


def test_sweeper_does_not_requeue_the_same_request_on_every_pass(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    lose_a_message(user, product, "backlog-1", age_s=60)
    assert sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)["requeued"] == 1
    assert sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)["requeued"] == 0


def test_sweeper_abandons_a_request_too_old_to_keep_and_it_never_sells(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    lose_a_message(user, product, f"{product.pk}-ancient-1", age_s=7200)

    counts = sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)

    assert counts["abandoned"] == 1
    response = api_client(user).get(f"/api/seckill/requests/{product.pk}-ancient-1/")
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
    purchase = PurchaseRequest(request_id=f"{product.pk}-ancient-1", user_id=user.pk, product_id=product.pk, quantity=1)
    assert decisions.purchase_process(purchase).code == "unavailable"  # its message turns up after all: no sale
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert Product.objects.get(pk=product.pk).stock_left == 2 and not Order.objects.exists()


def test_a_request_sold_in_redis_is_never_given_up_but_run_again(worker, make_buyers, make_product):
    # Too old to keep, but its sale was decided in Redis and never reached the ledger (a commit that failed, a
    # worker killed mid-commit): giving it up would leave the units taken for nothing. It runs again instead.
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    lose_a_message(user, product, f"{product.pk}-mid-commit-1", age_s=7200)
    purchase = PurchaseRequest(
        request_id=f"{product.pk}-mid-commit-1", user_id=user.pk, product_id=product.pk, quantity=1
    )
    assert gate.sell(**purchase.task_kwargs())[0] is gate.Sell.SOLD

    assert decisions.purchase_abandon(purchase).code == "pending"  # not given up, nothing recorded
    assert records.request_get(f"{product.pk}-mid-commit-1", product.pk).outcome is None
    get_client().expire(keys.request(product.pk, f"{product.pk}-mid-commit-1"), 100)  # its day nearly over
    counts = sweep.purchase_requests_sweep(older_than_s=30, give_up_after_s=3600)

    assert (counts["abandoned"], counts["requeued"]) == (0, 1)
    assert get_client().ttl(keys.request(product.pk, f"{product.pk}-mid-commit-1")) > 86_400 - 60  # record kept
    final = poll(api_client(user), f"/api/seckill/requests/{product.pk}-mid-commit-1/")
    assert final.status_code == 200 and final.json()["code"] == "success"
    assert Order.objects.get(request_id=f"{product.pk}-mid-commit-1").user_id == user.pk
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert Product.objects.get(pk=product.pk).stock_left == 1  # orders == sold == stock taken


def test_beat_schedules_a_registered_sweeper_on_its_own_queue():
    entry = celery_app.conf.beat_schedule["sweep-pending-purchases"]
    assert celery_app.tasks[entry["task"]].name == sweep_pending_task.name  # KeyError if not registered
    assert celery_app.amqp.router.route({}, entry["task"])["queue"].name == "maintenance"


def test_a_task_out_of_retries_after_its_redis_sale_retries_later_instead_of_giving_up(
    clean_redis, transactional_db, make_buyers, make_product, monkeypatch
):
    # The task's own commit kept failing after sell.lua marked the sale: with its retries spent it must not
    # answer unavailable (the units stay taken) nor store a "successful" pending result that the sale's success
    # could not overwrite later. It retries later instead. (Run in this process, as a worker would run it, with
    # the failure injected and the retry's message captured instead of sent.)
    from celery.exceptions import Retry
    from django import db

    from seckill.tasks import MAX_RETRIES, purchase_task

    def failing_commit(purchase, **options):
        raise db.OperationalError("the database went away")

    sent = []
    monkeypatch.setattr(decisions, "purchase_process", failing_commit)
    monkeypatch.setattr(purchase_task, "apply_async", lambda *args, **options: sent.append(options))
    users = make_buyers(2)
    product = make_product(stock_total=2)

    def run_out_of_retries(user, *, sold):
        fields = dict(request_id=f"commit-fails-{user.pk}", user_id=user.pk, product_id=product.pk, quantity=1)
        lose_a_message(user, product, fields["request_id"], age_s=1)
        if sold:
            assert gate.sell(**fields)[0] is gate.Sell.SOLD
        purchase_task.push_request(
            id=fields["request_id"], kwargs=fields, retries=MAX_RETRIES, called_directly=False, is_eager=False
        )
        try:
            return purchase_task.run(**fields)
        finally:
            purchase_task.pop_request()

    with pytest.raises(Retry):
        run_out_of_retries(users[0], sold=True)
    assert len(sent) == 1 and sent[0]["countdown"] > 1  # later, not in a tight loop
    assert run_out_of_retries(users[1], sold=False)["code"] == "unavailable"  # undecided: given up
    assert gate.live_stock([product.pk]) == {product.pk: 1}  # the sold unit stays taken, no other


def test_workers_send_the_sweep_only_while_beat_is_silent_and_one_per_interval(
    db, clean_redis, make_product, monkeypatch, settings
):
    from seckill.ops import heartbeat

    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, **kwargs: sent.append(name))
    settings.SECKILL_SWEEP_WITHOUT_BEAT = True
    heartbeat._stand_in_for_beat()
    assert sent == []  # beat never seen, but nothing is pending: no message
    clean_redis.zadd(keys.pending(make_product().pk), {"a-lost-request": time.time() - 3600})
    clean_redis.set(keys.BEAT, time.time())  # beat ticks: the workers leave the sweep to it
    heartbeat._stand_in_for_beat()
    assert sent == []
    clean_redis.set(keys.BEAT, time.time() - 3600)  # beat died: one worker per interval sends it
    heartbeat._stand_in_for_beat()
    heartbeat._stand_in_for_beat()  # (another worker, within the same interval)
    assert sent == ["seckill.sweep_pending"]
    clean_redis.delete(keys.BEAT, keys.SWEEP_STAND_IN)  # never seen, next interval
    heartbeat._stand_in_for_beat()
    assert sent == ["seckill.sweep_pending"] * 2
    settings.SECKILL_SWEEP_WITHOUT_BEAT = False
    clean_redis.delete(keys.SWEEP_STAND_IN)
    heartbeat._stand_in_for_beat()
    assert len(sent) == 2
