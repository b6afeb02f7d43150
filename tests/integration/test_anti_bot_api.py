"""A product sold through purchase paths (and challenges), end to end over HTTP against real Redis and a real
worker: the challenge and the path issued in their window, each bad path or solution refused with its own code,
a path spent only by the purchase it admits, an Idempotency-Key replay answered before its path is looked at, and
the pace cap's 429 with Retry-After."""

import threading
import time
from collections import Counter
from datetime import timedelta
from unittest import mock

import altcha
import pytest
import redis
from django.test import override_settings
from django.utils import timezone

from seckill.antibot.challenges import verifier
from seckill.antibot.errors import PathUsed
from seckill.antibot.paths import path_token_make
from seckill.errors import SoldOut
from seckill.gate import admissions, keys
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases import admission
from seckill.purchases.request import PurchaseRequest
from seckill_site.celery import app as celery_app
from seckill_site.errors import Unavailable
from tests.support.http import api_client
from tests.support.polling import wait_for

pytestmark = pytest.mark.worker
BUY = "/api/seckill/"


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    """A test's buyer asks more often than a person would (each challenge and path counts as a request)."""
    settings.SECKILL_USER_RATE_RULES = ()


def path_for(user, product, **body):
    return api_client(user).post(f"/api/seckill/{product.pk}/path/", body, format="json")


def challenge_for(user, product):
    return api_client(user).get(f"/api/seckill/{product.pk}/challenge/")


def solved(challenge: dict) -> str:
    """A solution as a client sends it (ALTCHA's payload), found with ALTCHA's own solver."""
    parsed = altcha.Challenge.from_dict(challenge)
    return altcha.Payload(parsed, altcha.solve_challenge(parsed)).to_base64()


def buy(user, product, headers=None, **body):
    return api_client(user).post(BUY, {"product_id": product.pk, **body}, format="json", headers=headers or {})


def test_a_path_buys_once_and_each_bad_path_has_its_own_code(worker, make_buyers, make_product):
    owner, other = make_buyers(2)
    product = make_product(stock_total=3, anti_bot="path")
    elsewhere = make_product(stock_total=3, anti_bot="path")

    assert buy(owner, product).json()["code"] == "path_required"
    assert buy(owner, product, path="1.2.3").json()["code"] == "path_invalid"
    theirs = path_for(other, product).json()["path"]
    assert buy(owner, product, path=theirs).json()["code"] == "path_other_buyer"
    for_elsewhere = path_for(owner, elsewhere).json()["path"]
    assert buy(owner, product, path=for_elsewhere).json()["code"] == "path_other_product"
    expired = path_token_make(user_id=owner.pk, product_id=product.pk, expires_ms=int(time.time() * 1000) - 1)
    response = buy(owner, product, path=expired)
    assert (response.status_code, response.json()["code"]) == (403, "path_expired")
    assert Order.objects.count() == 0 and get_client().zcard(keys.admitted(product.pk)) == 0

    issued = path_for(owner, product)
    assert issued.status_code == 200 and issued["Cache-Control"] == "no-store"
    mine = issued.json()["path"]
    response = buy(owner, product, path=mine)
    assert (response.status_code, response.json()["code"]) == (200, "success")
    # Spent: even by the buyer it was issued to (whose purchase the gate knows: that answer comes first).
    assert buy(owner, product, path=mine).json()["code"] == "already_purchased"
    assert get_client().get(keys.path_spent(product.pk, 0, mine.split(".")[3])) == response.json()["request_id"]
    # The other buyer's own path still works; the spent one does not, for anyone's request.
    assert buy(other, product, path=theirs).json()["code"] == "success"
    assert get_client().get(keys.path_spent(product.pk, 0, theirs.split(".")[3])) is not None
    assert Order.objects.filter(product=product).count() == 2


def test_a_path_refused_by_sold_out_is_not_spent(worker, make_buyers, make_product):
    first, second = make_buyers(2)
    product = make_product(stock_total=1, anti_bot="path")
    mine = path_for(second, product).json()["path"]
    assert buy(first, product, path=path_for(first, product).json()["path"]).json()["code"] == "success"
    assert buy(second, product, path=mine).json()["code"] == "sold_out"
    assert not get_client().exists(keys.path_spent(product.pk, 0, mine.split(".")[3]))


def test_an_idempotency_key_replay_is_answered_before_its_path(worker, make_buyers, make_product):
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="path")
    key = {"Idempotency-Key": "attempt-1"}
    # A bad path refuses the request and leaves the key free: the retry with a good path goes through.
    assert buy(owner, product, headers=key, path="1.2.3").json()["code"] == "path_invalid"
    mine = path_for(owner, product).json()["path"]
    first = buy(owner, product, headers=key, path=mine).json()
    assert first["code"] == "success"
    # The replay's path is spent (or missing): the key answers the first outcome without looking at it.
    assert buy(owner, product, headers=key, path=mine).json() == first
    assert buy(owner, product, headers=key).json() == first


def test_a_path_costs_a_solution_accepted_once_for_its_buyer_and_product(worker, make_buyers, make_product):
    owner, other = make_buyers(2)
    product = make_product(stock_total=2, anti_bot="challenge", challenge_cost=300)
    elsewhere = make_product(stock_total=2, anti_bot="challenge", challenge_cost=300)

    challenge = challenge_for(owner, product)
    assert challenge.status_code == 200 and challenge["Cache-Control"] == "no-store"
    assert challenge.json()["parameters"]["data"] == {"product": product.pk, "buyer": owner.pk}
    assert path_for(owner, product).json()["code"] == "challenge_required"
    assert path_for(owner, product, solution="bm90IGEgc29sdXRpb24=").json()["code"] == "challenge_invalid"
    solution = solved(challenge.json())
    assert path_for(owner, elsewhere, solution=solution).json()["code"] == "challenge_other_product"
    assert path_for(other, product, solution=solution).json()["code"] == "challenge_other_buyer"

    issued = path_for(owner, product, solution=solution)
    assert issued.status_code == 200, issued.json()
    replayed = path_for(owner, product, solution=solution)
    assert (replayed.status_code, replayed.json()["code"]) == (409, "challenge_used")
    assert buy(owner, product, path=issued.json()["path"]).json()["code"] == "success"


def test_a_solution_with_a_wrong_key_is_refused(worker, make_buyers, make_product):
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="challenge", challenge_cost=300)
    challenge = altcha.Challenge.from_dict(challenge_for(owner, product).json())
    wrong = altcha.Payload(challenge, altcha.Solution(counter=1, derived_key="00" * 32)).to_base64()
    assert path_for(owner, product, solution=wrong).json()["code"] == "challenge_invalid"


def test_challenges_and_paths_are_issued_from_the_lead_time_before_the_start(worker, make_buyers, make_product):
    (owner,) = make_buyers(1)
    start = timezone.now() + timedelta(seconds=120)
    product = make_product(stock_total=2, anti_bot="path", start_time=start, path_lead_seconds=60)
    response = path_for(owner, product)
    assert (response.status_code, response.json()["code"]) == (409, "path_not_open")
    challenged = make_product(stock_total=2, anti_bot="challenge", start_time=start, path_lead_seconds=60)
    assert challenge_for(owner, challenged).json()["code"] == "path_not_open"
    early = make_product(stock_total=2, anti_bot="path", start_time=start, path_lead_seconds=300)
    issued = path_for(owner, early).json()
    # Valid from now until SECKILL_PATH_TTL after the start: a slow phone solved before the opening keeps it.
    expires = timezone.datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - start).total_seconds() - 60) < 1
    assert buy(owner, early, path=issued["path"]).json()["code"] == "sale_not_started"


def test_beyond_the_products_pace_a_purchase_is_answered_429_busy_with_retry_after(worker, make_buyers, make_product):
    buyers = make_buyers(12)
    product = make_product(stock_total=100, max_admissions_per_second=2)
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(len(buyers))

    def attempt(user):
        barrier.wait()
        response = buy(user, product)
        with lock:
            answers.append((response.status_code, response.json()["code"], response.get("Retry-After"), time.time()))

    started = time.time()
    threads = [threading.Thread(target=attempt, args=(user,)) for user in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    codes = Counter(code for _, code, _, _ in answers)
    admitted = codes["success"] + codes["pending"]  # (an admitted request the worker had not decided in time)
    # at most 2 in each second of Redis' clock the answers spanned (this machine's is the same)
    seconds = int(max(at for *_, at in answers)) - int(started) + 1
    assert 1 <= admitted <= 2 * seconds and admitted + codes["busy"] == len(buyers), answers
    assert all(status == 429 and retry == "1" for status, code, retry, _ in answers if code == "busy")
    assert Order.objects.filter(product=product).count() <= admitted


def test_a_spent_path_is_refused_to_a_second_request(worker, make_buyers, make_product):
    """A first request admitted and not yet decided (the worker holds back) spent the path: the same path again
    is 409 path_used, not a second attempt."""
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="path")
    mine = path_for(owner, product).json()["path"]
    assert celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    try:
        with override_settings(SECKILL_RESULT_TIMEOUT=0.3):
            first = buy(owner, product, path=mine)
            assert first.json()["code"] == "pending"
            second = buy(owner, product, path=mine)
    finally:
        assert celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    assert (second.status_code, second.json()["code"]) == (409, "path_used")
    assert wait_for(lambda: api_client(owner).get(first.json()["result_url"]).json()["code"] == "success", 30)


def test_an_expired_challenge_buys_no_path(worker, make_buyers, make_product):
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="challenge", challenge_cost=300)
    made = verifier().challenge_make(user_id=owner.pk, product_id=product.pk, cost=300, expires_at=int(time.time()) - 1)
    response = path_for(owner, product, solution=solved(made))
    assert (response.status_code, response.json()["code"]) == (403, "challenge_expired")


def test_a_product_sold_without_them_issues_no_challenge_and_no_path(worker, make_buyers, make_product):
    (owner,) = make_buyers(1)
    plain, guarded = make_product(stock_total=2), make_product(stock_total=2, anti_bot="path")
    assert challenge_for(owner, plain).json()["code"] == "challenge_not_required"
    assert challenge_for(owner, guarded).json()["code"] == "challenge_not_required"
    response = path_for(owner, plain)
    assert (response.status_code, response.json()["code"]) == (409, "path_not_required")
    assert buy(owner, plain, path="ignored").json()["code"] == "success"  # (a product without paths ignores one)


def test_a_bucketed_products_path_follows_its_request_and_comes_back_when_none_admits(
    transactional_db, clean_redis, make_buyers, make_product
):
    """The path is spent in the buyer's home bucket: while that one is sold out it holds the path for the bucket
    that admits the request; when none does, the path is given back."""
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="path", gate_buckets=2)  # 1 unit in each bucket
    home, later = owner.pk % 2, int(time.time() * 1000) + 60_000
    get_client().set(keys.stock(product.pk, home), 0)  # the buyer's own bucket is empty

    def attempt(token):
        request = PurchaseRequest(keys.request_id_new(product.pk), owner.pk, product.pk, 1, "127.0.0.1", None, token)
        return admission.purchase_admit(request)

    token = path_token_make(user_id=owner.pk, product_id=product.pk, expires_ms=later)
    assert keys.request_bucket(attempt(token).request_id) == 1 - home
    assert get_client().exists(keys.path_spent(product.pk, home, token.split(".")[3]))
    with pytest.raises(PathUsed):
        attempt(token)
    get_client().set(keys.stock(product.pk, 1 - home), 0)  # every bucket sold out
    fresh = path_token_make(user_id=owner.pk, product_id=product.pk, expires_ms=later)
    with pytest.raises(SoldOut):
        attempt(fresh)
    assert not get_client().exists(keys.path_spent(product.pk, home, fresh.split(".")[3]))
    # The other bucket fails (Redis refuses its write): the path comes back too.
    get_client().set(keys.stock(product.pk, 1 - home), 1)
    real_admit = admissions.admit

    def other_bucket_fails(**call):
        if keys.request_bucket(call["request_id"]) != home:
            raise redis.exceptions.ReadOnlyError("READONLY")
        return real_admit(**call)

    failing = path_token_make(user_id=owner.pk, product_id=product.pk, expires_ms=later)
    with mock.patch.object(admissions, "admit", side_effect=other_bucket_fails), pytest.raises(Unavailable):
        attempt(failing)
    assert not get_client().exists(keys.path_spent(product.pk, home, failing.split(".")[3]))


@pytest.mark.parametrize(
    "solution",
    [
        "!!!",
        "bm90IGEgc29sdXRpb24=",  # base64 of text
        "WzFd",  # [1]
        "eyJjaGFsbGVuZ2UiOjEsInNvbHV0aW9uIjoyfQ==",  # {"challenge": 1, "solution": 2}
        "eyJjaGFsbGVuZ2UiOnsicGFyYW1ldGVycyI6e30sInNpZ25hdHVyZSI6MX0sInNvbHV0aW9uIjp7fX0=",  # no parameters
        "//4=",  # not UTF-8
    ],
)
def test_a_solution_altcha_cannot_read_is_invalid_not_an_error(worker, make_buyers, make_product, solution):
    (owner,) = make_buyers(1)
    product = make_product(stock_total=2, anti_bot="challenge", challenge_cost=300)
    response = path_for(owner, product, solution=solution)
    assert (response.status_code, response.json()["code"]) == (403, "challenge_invalid")
