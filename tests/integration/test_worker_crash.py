"""Fault injection: a worker killed mid-burst loses no purchase, sells nothing twice, and every request is answered.

The Redis transport brings an unacknowledged message back only after the visibility timeout and can lose one
for good (docs/traps.md); the sweeper (`purchase_requests_sweep`) enqueues requests without an outcome again.
"""

import os
import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager

import pytest
from django.db import connections, transaction
from django.test import override_settings

from products.models import Product
from seckill.gate import keys
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.worker import sweep
from seckill_site.celery import app as celery_app
from tests.support.http import api_client
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.worker]

BUYERS = 400
STOCK = 200


def submit_all(users, product):
    """Every buyer's request enqueued (the view answers 202 at once: nobody consumes yet)."""
    results, lock = {}, threading.Lock()

    def submit(chunk):
        try:
            for user in chunk:
                response = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json")
                with lock:
                    results[user.pk] = response
        finally:
            connections.close_all()

    # Every request must reach the queue here, so the admission gate lets them all in.
    with override_settings(SECKILL_RESULT_TIMEOUT=0.01, SECKILL_ADMISSION_FACTOR=10):
        threads = [threading.Thread(target=submit, args=(users[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    return results


def assert_sold_out_once(users, answers, product, redis_client):
    """Every buyer's own request answered, the stock sold exactly, once per buyer, in the ledger and in Redis."""
    stock = product.stock_total
    codes = Counter()
    for user in users:
        response = api_client(user).get(answers[user.pk].json()["result_url"])
        assert response.json()["request_id"] == answers[user.pk].json()["request_id"]
        codes[response.json()["code"]] += 1
    assert codes == {"success": stock, "sold_out": len(users) - stock}
    assert Order.objects.filter(product=product).count() == stock
    assert Product.objects.get(pk=product.pk).stock_left == 0
    assert gate.live_stock([product.pk]) == {product.pk: 0}
    assert redis_client.hlen(keys.buyers(product.pk)) == stock


@contextmanager
def ledger_held(product):
    """The product's row locked (on SQLite, the database) by another connection: purchases wait inside their
    transaction until the block ends or the yielded event is set."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Product.objects.filter(pk=product.pk).update(name="locked by the test")
                held.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        yield release
    finally:
        release.set()
        holder.join(10)


def test_killed_worker_loses_no_purchase(worker, make_buyers, make_product, redis_client, tmp_path):
    users = make_buyers(BUYERS)
    product = make_product(stock_total=STOCK)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    victim = WorkerProcess(f"victim-{os.getpid()}@localhost", tmp_path / "victim.log")
    try:
        answers = submit_all(users, product)
        assert Counter(r.status_code for r in answers.values()) == {202: BUYERS}

        victim.start(wait=False)  # no ping: it would answer only after the victim had taken most of the queue
        assert wait_for(lambda: Order.objects.filter(product=product).count() >= 10, 30, interval=0.01)
        victim.kill()  # mid-burst: some messages taken from the queue and not acknowledged

        # The surviving worker takes the queue; what the dead one held stays unacknowledged until the
        # visibility timeout (300 s), or is lost for good; the sweeper enqueues those requests again.
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
        assert wait_for(lambda: redis_client.llen("celery") == 0, 60)

        def all_answered():
            sweep.purchase_requests_sweep(older_than_s=0.5, give_up_after_s=3600)
            return redis_client.zcard(keys.pending(product.pk)) == 0

        assert wait_for(all_answered, 30, interval=0.5), "requests left without an outcome"
    finally:
        if victim.proc and victim.proc.poll() is None:
            victim.kill()
        # The dead worker's unacked messages would come back in a later test after the visibility timeout.
        redis_client.delete("unacked", "unacked_index", "unacked_mutex")

    assert_sold_out_once(users, answers, product, redis_client)


@pytest.mark.parametrize("restarted", [True, False], ids=["a new worker started", "another worker running"])
def test_on_default_settings_every_request_is_decided_within_20_s_of_a_worker_dying(
    worker, beat, make_buyers, make_product, redis_client, tmp_path, restarted
):
    """What a buyer sees when a worker is SIGKILLed mid-sale, with nothing but the defaults and beat running (as
    the Procfile does): the requests the dead worker held come back by the sweeper (docs/reliability.md), decided
    within 20 s of the new worker's start, or of the death when another worker runs all along."""
    users = make_buyers(120)
    product = make_product(stock_total=60)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    victim = WorkerProcess(f"default-victim-{os.getpid()}@localhost", tmp_path / "victim.log")
    rescuer = WorkerProcess(f"rescuer-{os.getpid()}@localhost", tmp_path / "rescuer.log")
    try:
        answers = submit_all(users, product)
        victim.start(wait=False)
        assert wait_for(lambda: Order.objects.filter(product=product).count() >= 10, 30, interval=0.01)
        victim.kill()  # the whole process group: the messages it held are neither acknowledged nor given back
        started = time.monotonic()
        if restarted:
            rescuer.start(wait=False)
        else:
            celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
        decided = wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, 20, interval=0.1)
        assert decided, "not decided in 20 s"
        decided_after = time.monotonic() - started
    finally:
        for proc in (victim, rescuer):
            if proc.proc and proc.proc.poll() is None:
                proc.kill()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
        redis_client.delete("unacked", "unacked_index", "unacked_mutex")
    assert decided_after <= 20
    assert_sold_out_once(users, answers, product, redis_client)


def test_pool_process_killed_mid_batch_loses_no_purchase(worker, make_buyers, make_product, redis_client, tmp_path):
    """The worker hands a pool process the purchases that waited for it as one job (integrations/celery_batches.py). A
    process killed running such a job takes several requests with it: each must come back (Celery's
    worker-lost path, per request) and sell once."""
    buyers, stock = 40, 30
    users = make_buyers(buyers)
    product = make_product(stock_total=stock)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    victim = WorkerProcess(f"batch-victim-{os.getpid()}@localhost", tmp_path / "batch-victim.log")

    def active_by_process() -> Counter:
        active = celery_app.control.inspect(destination=[victim.name], timeout=1).active() or {}
        return Counter(task["worker_pid"] for task in active.get(victim.name, []))

    try:
        with ledger_held(product):
            victim.start()
            answers = submit_all(users[:2], product)  # one request per pool process, both stuck on the lock
            assert wait_for(lambda: sum(active_by_process().values()) == 2, 20, interval=0.1)
            answers.update(submit_all(users[2:], product))  # these wait in the worker for a free process
            os.kill(next(iter(active_by_process())), signal.SIGKILL)
            # The process that replaces it is given the waiting requests as one job, stuck on its first.
            assert wait_for(lambda: max(active_by_process().values(), default=0) >= 2, 20, interval=0.1)
            pid, held = active_by_process().most_common(1)[0]
            os.kill(pid, signal.SIGKILL)
        # No sweeper here: the worker gives back each request of the dead process' jobs itself, at once.
        assert wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, 60, interval=0.2), (
            "requests left without an outcome"
        )
    finally:
        victim.stop()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)

    assert held >= 2
    assert Counter(r.status_code for r in answers.values()) == {202: buyers}
    assert_sold_out_once(users, answers, product, redis_client)


def test_stopped_worker_gives_back_the_purchases_waiting_in_it(
    worker, make_buyers, make_product, redis_client, tmp_path
):
    """Requests a worker holds for its next batches (prefetched, not yet given to a process) go back to the
    queue when it stops, not after the visibility timeout."""
    buyers = 12
    users = make_buyers(buyers)
    product = make_product(stock_total=buyers)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    victim = WorkerProcess(f"stop-victim-{os.getpid()}@localhost", tmp_path / "stop-victim.log")
    try:
        with ledger_held(product) as release:
            victim.start()
            answers = submit_all(users, product)
            assert wait_for(lambda: redis_client.llen("celery") == 0, 20, interval=0.05)  # all in the worker
            victim.proc.terminate()  # warm shutdown: it waits for the two running jobs
            release.set()
            victim.proc.wait(30)
            victim.log.close()
        assert redis_client.llen("celery") >= buyers - 2  # the waiting ones are back in the queue
    finally:
        if victim.proc and victim.proc.poll() is None:
            victim.kill()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)

    assert wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, 60, interval=0.2)
    codes = Counter(api_client(user).get(answers[user.pk].json()["result_url"]).json()["code"] for user in users)
    assert codes == {"success": buyers}
    assert Order.objects.filter(product=product).count() == buyers


# --- without beat ------------------------------------------------------------------------------------------------
VISIBILITY_TIMEOUT = 10
WITHOUT_BEAT = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT), "SECKILL_SWEEP_WITHOUT_BEAT": "1"}


def test_with_beat_off_every_request_is_decided_within_the_visibility_timeout_plus_5_s(
    worker, make_buyers, make_product, redis_client, tmp_path
):
    """A worker SIGKILLed mid-sale with no beat running: the messages it held unacknowledged come back by kombu's
    restore scan (every second: by default every 100 s, so they came back ~100 s late), a message it had popped but
    not yet recorded by the sweep the workers send while beat is silent (nothing else finds it). Every request is
    decided within the visibility timeout plus 5 s of the kill."""
    users = make_buyers(120)
    product = make_product(stock_total=60)
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    victim = WorkerProcess(f"nobeat-victim-{os.getpid()}@localhost", tmp_path / "victim.log")
    survivor = WorkerProcess(f"nobeat-survivor-{os.getpid()}@localhost", tmp_path / "survivor.log")
    try:
        survivor.start(extra_env=WITHOUT_BEAT)  # another worker runs all along, as in production, but the
        celery_app.control.cancel_consumer("celery", destination=[survivor.name], reply=True, timeout=5)  # victim
        answers = submit_all(users, product)  # takes the purchases first, and holds many when it dies
        victim.start(extra_env=WITHOUT_BEAT, wait=False)
        assert wait_for(lambda: Order.objects.filter(product=product).count() >= 10, 30, interval=0.01)
        victim.kill()
        killed = time.monotonic()
        celery_app.control.add_consumer("celery", destination=[survivor.name], reply=True, timeout=5)
        deadline = VISIBILITY_TIMEOUT + 5
        decided = wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, deadline + 30, interval=0.1)
        assert decided, "never decided"
        decided_after = time.monotonic() - killed
    finally:
        for proc in (victim, survivor):
            if proc.proc and proc.proc.poll() is None:
                proc.kill()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
        redis_client.delete("unacked", "unacked_index", "unacked_mutex")
    assert decided_after <= deadline, f"decided {decided_after:.1f} s after the kill"
    assert_sold_out_once(users, answers, product, redis_client)


def test_a_message_popped_and_never_recorded_is_found_without_beat(
    worker, make_buyers, make_product, redis_client, tmp_path
):
    """The Redis transport pops a message before it records it as unacknowledged: a worker killed in between loses
    it for good, and no visibility timeout brings it back. Taken off the queue here by hand, as such a worker would:
    with no beat, the workers' own sweep finds the request and it is sold."""
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    for queue in celery_app.amqp.queues:
        celery_app.control.cancel_consumer(queue, destination=[worker.name], reply=True, timeout=5)
    sweeper = WorkerProcess(f"nobeat-sweeper-{os.getpid()}@localhost", tmp_path / "sweeper.log")
    try:
        with override_settings(SECKILL_RESULT_TIMEOUT=0.01):
            answer = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json").json()
        assert answer["code"] == "pending" and redis_client.rpop("celery") is not None  # the message, lost
        sweeper.start(extra_env={**WITHOUT_BEAT, "SECKILL_REDELIVER_AFTER": "1"})
        assert wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, 20, interval=0.1), sweeper.log_tail()
    finally:
        sweeper.stop()
        for queue in celery_app.amqp.queues:
            celery_app.control.add_consumer(queue, destination=[worker.name], reply=True, timeout=5)
    assert api_client(user).get(answer["result_url"]).json()["code"] == "success"
    assert Order.objects.filter(user=user, product=product).count() == 1
