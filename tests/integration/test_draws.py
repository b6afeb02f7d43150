"""Draw mode against the real Redis and database: entries (one per buyer under concurrency, the buyer's guards,
refused after the window), the draw (exactly min(stock, entrants) winners, the same winners `verify_draw`
recomputes, held once when two start at once), and the waitlist (a lapsed winner's unit to the next entrant,
once, racing a payment). The suite runs on SQLite and on PostgreSQL. The draw run by beat on the worker:
test_draw_process.py."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from products.models import Product, SaleMode
from seckill.access import blacklist
from seckill.antibot.paths import path_token_make
from seckill.catalogue.services import product_update
from seckill.draws import fairness
from seckill.draws.outcomes import iso_ms
from seckill.draws.selectors import draw_caches_clear
from seckill.gate import entries as gate_entries
from seckill.gate import keys
from seckill.models import Draw, DrawEntry, Order
from seckill.orders import services as order_services
from seckill.worker import draw as draws
from tests.support.http import api_client
from tests.support.invariants import assert_gate_and_ledger_agree

BUY = "/api/seckill/"


@pytest.fixture(autouse=True)
def no_rate_limits(settings, clean_redis):
    settings.SECKILL_USER_RATE_RULES = ()


def draw_product(make_product, **fields):
    return make_product(sale_mode=SaleMode.DRAW, **{"stock_total": 3, **fields})


def enter(user, product, headers=None, **body):
    return api_client(user).post(BUY, {"product_id": product.pk, **body}, format="json", headers=headers or {})


def close_window(product):
    """The window ends now (through the catalogue, which tells the gate)."""
    product_update(product=Product.objects.get(pk=product.pk), end_time=timezone.now())


def entered_codes(product) -> dict[int, str]:
    from seckill.gate.client import get_client

    return {int(u): c for u, c in get_client().hgetall(keys.entries(product.pk)).items()}


# --- entries --------------------------------------------------------------------------------------------------
def test_an_entry_is_answered_at_once_with_its_code_and_a_repeat_answers_the_same(
    transactional_db, make_buyers, make_product, redis_client
):
    (buyer,) = make_buyers(1)
    product = draw_product(make_product, stock_total=1)
    queued = redis_client.llen("celery")
    first = enter(buyer, product)
    assert first.status_code == 202, first.content
    body = first.json()
    assert body["code"] == "entered" and len(body["entry_code"]) == fairness.CODE_HEX_DIGITS
    assert body["draw_at"] == iso_ms(product.end_time)
    assert body["result_url"] == f"/api/seckill/{product.pk}/entry/"
    again = enter(buyer, product)
    keyed = enter(buyer, product, headers={"Idempotency-Key": "entry-1"})  # (a key adds nothing to an entry)
    assert again.status_code == keyed.status_code == 202
    assert again.json()["entry_code"] == keyed.json()["entry_code"] == body["entry_code"]
    result = api_client(buyer).get(body["result_url"])
    assert result.status_code == 202 and result.json()["code"] == "entered"
    assert result.json()["entry_code"] == body["entry_code"]
    assert redis_client.llen("celery") == queued  # no broker message
    assert entered_codes(product) == {buyer.pk: body["entry_code"]}


def test_entries_are_taken_beyond_the_stock_and_without_admission_slots(transactional_db, make_buyers, make_product):
    buyers = make_buyers(12)
    product = draw_product(make_product, stock_total=1)
    answers = [enter(b, product) for b in buyers]
    assert [a.status_code for a in answers] == [202] * 12
    assert len(entered_codes(product)) == 12


def test_each_buyer_enters_once_whatever_the_concurrency(transactional_db, make_buyers, make_product):
    buyers = make_buyers(24)
    product = draw_product(make_product, stock_total=5)
    enter(buyers[0], product)  # (loaded into this process' sale cache and the gate before the crowd)
    answers: list[tuple[int, int, str]] = []
    start = threading.Barrier(48)

    def crowd(user):
        start.wait()
        response = enter(user, product)
        answers.append((user.pk, response.status_code, response.json().get("entry_code")))

    threads = [threading.Thread(target=crowd, args=(b,)) for b in buyers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 48 and {status for _, status, _ in answers} == {202}
    codes = entered_codes(product)
    assert len(codes) == 24 and len(set(codes.values())) == 24
    for user, _, code in answers:  # each buyer was told the one entry Redis holds for them, every time
        assert code == codes[user]


def test_an_entry_needs_the_buyers_guards_and_a_path_when_the_product_takes_one(
    transactional_db, make_buyers, make_product, settings
):
    a, b, c = make_buyers(3)
    product = draw_product(make_product, anti_bot="path")
    assert enter(a, product).json()["code"] == "path_required"
    path = path_token_make(
        user_id=a.pk, product_id=product.pk, expires_ms=int(timezone.now().timestamp() * 1000) + 60_000
    )
    assert enter(a, product, path=path).status_code == 202
    assert enter(b, product, path=path).json()["code"] == "path_other_buyer"
    blacklist.blacklist_add(kind="user", value=str(c.pk))
    assert enter(c, product).status_code == 403
    assert enter(a, product, quantity=2).json()["code"] == "invalid_request"
    settings.SECKILL_USER_RATE_RULES = ((2, 60),)
    codes = [
        enter(b, product, path=path_token_make(user_id=b.pk, product_id=product.pk, expires_ms=2**42)) for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [202, 202, 429]


def test_a_path_is_spent_once_by_a_new_entry(transactional_db, make_buyers, make_product):
    (a,) = make_buyers(1)
    product = draw_product(make_product, anti_bot="path")
    path = path_token_make(user_id=a.pk, product_id=product.pk, expires_ms=2**42)
    first = enter(a, product, path=path)
    repeat = enter(a, product, path=path)  # a repeat answers the entry; its path is not spent again
    assert first.status_code == repeat.status_code == 202
    assert first.json()["entry_code"] == repeat.json()["entry_code"]


def test_an_entry_after_the_window_or_once_the_draw_took_the_entries_is_refused(
    transactional_db, make_buyers, make_product
):
    a, b = make_buyers(2)
    product = draw_product(make_product)
    assert enter(a, product).status_code == 202
    with pytest.raises(gate_entries.EntriesOpen):  # the draw closes nothing before Redis' clock says the end
        gate_entries.entries_close(product.pk)
    close_window(product)  # (Redis' end now; this process' cached sale state still says open)
    assert gate_entries.entries_close(product.pk) == {a.pk: entered_codes(product)[a.pk]}
    refused = enter(b, product)  # refused by Redis, in the step that would enter it
    assert refused.status_code == 409 and refused.json()["code"] == "sale_ended"
    ended = draw_product(
        make_product, start_time=timezone.now() - timedelta(hours=2), end_time=timezone.now() - timedelta(hours=1)
    )
    assert enter(a, ended).json()["code"] == "sale_ended"
    upcoming = draw_product(
        make_product, start_time=timezone.now() + timedelta(hours=1), end_time=timezone.now() + timedelta(hours=2)
    )
    assert enter(a, upcoming).json()["code"] == "sale_not_started"


def test_the_sale_mode_is_set_before_the_window_opens(transactional_db, make_product):
    product = make_product()  # on sale now
    from seckill.errors import SaleStarted
    from seckill_site.errors import InvalidRequest

    with pytest.raises(SaleStarted):
        product_update(product=product, sale_mode=SaleMode.DRAW)
    later = make_product(start_time=timezone.now() + timedelta(hours=1), end_time=timezone.now() + timedelta(hours=2))
    later = product_update(product=later, sale_mode=SaleMode.DRAW)
    assert later.is_draw and Draw.objects.get(product=later).seed_sha256 == fairness.seed_commitment(later.draw.seed)
    with pytest.raises(InvalidRequest):
        product_update(product=later, gate_buckets=2)


# --- the draw -------------------------------------------------------------------------------------------------
def entrants(make_buyers, product, count, prefix="e"):
    buyers = make_buyers(count, prefix=prefix)
    for b in buyers:
        assert enter(b, product).status_code == 202
    return buyers


def test_the_draw_sells_min_stock_entrants_and_verify_draw_recomputes_the_same_winners(
    transactional_db, make_buyers, make_product
):
    product = draw_product(make_product, stock_total=7)
    buyers = entrants(make_buyers, product, 30)
    codes = entered_codes(product)
    close_window(product)
    report = draws.draw_hold(product_id=product.pk)
    assert report is not None and report.entries == 30 and report.winners == 7
    draw = Draw.objects.get(product=product)
    order = fairness.draw_order(draw.seed, codes.values())
    winners = {user for user, code in codes.items() if code in order[:7]}
    orders = Order.objects.filter(product=product)
    assert set(orders.values_list("user_id", flat=True)) == winners
    assert set(orders.values_list("status", flat=True)) == {Order.Status.PENDING_PAYMENT}
    assert Product.objects.get(pk=product.pk).stock_left == 0
    assert draw.entries_digest == fairness.entries_digest(codes.values())
    assert [e.code for e in DrawEntry.objects.filter(draw=draw).order_by("rank")] == order
    assert_gate_and_ledger_agree(product.pk)
    assert not gate_entries.entries_count(product.pk)  # (the ledger holds them now)
    out = StringIO()
    call_command("verify_draw", str(product.pk), stdout=out)
    assert [line.split()[1] for line in out.getvalue().splitlines() if line.startswith("  won")] == order[:7]
    # each buyer's result
    results = Counter(api_client(b).get(f"/api/seckill/{product.pk}/entry/").json()["code"] for b in buyers)
    assert results == {"success": 7, "waitlisted": 23}


def test_fewer_entrants_than_units_all_win_and_the_rest_stays_in_stock(transactional_db, make_buyers, make_product):
    product = draw_product(make_product, stock_total=5)
    entrants(make_buyers, product, 3)
    close_window(product)
    assert draws.draw_hold(product_id=product.pk).winners == 3
    assert Product.objects.get(pk=product.pk).stock_left == 2
    assert_gate_and_ledger_agree(product.pk)


def test_an_inactive_entrant_is_passed_over_for_the_next(transactional_db, make_buyers, make_product):
    product = draw_product(make_product, stock_total=2)
    buyers = entrants(make_buyers, product, 6)
    codes = entered_codes(product)
    seed = Draw.objects.get(product=product).seed
    first = next(b for b in buyers if codes[b.pk] == fairness.draw_order(seed, codes.values())[0])
    type(first).objects.filter(pk=first.pk).update(is_active=False)
    close_window(product)
    assert draws.draw_hold(product_id=product.pk).winners == 2
    assert not Order.objects.filter(user=first).exists()
    out, err = StringIO(), StringIO()
    call_command("verify_draw", str(product.pk), stdout=out, stderr=err)
    assert f"passed over {codes[first.pk]}" in out.getvalue() and not err.getvalue()


def test_verify_draw_fails_a_draw_whose_record_was_changed(transactional_db, make_buyers, make_product):
    product = draw_product(make_product, stock_total=2)
    entrants(make_buyers, product, 5)
    close_window(product)
    draws.draw_hold(product_id=product.pk)
    Draw.objects.filter(product=product).update(seed=fairness.seed_new())  # not the seed committed to
    with pytest.raises(SystemExit) as failed:
        call_command("verify_draw", str(product.pk), stdout=StringIO(), stderr=StringIO())
    assert failed.value.code == 1


def test_two_draws_started_at_once_hold_it_once(transactional_db, make_buyers, make_product):
    product = draw_product(make_product, stock_total=4)
    entrants(make_buyers, product, 20)
    close_window(product)
    start, reports, errors = threading.Barrier(2), [], []

    def hold():
        try:
            start.wait()
            reports.append(draws.draw_hold(product_id=product.pk))
        except Exception as exc:  # (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(r is None for r in reports) == [False, True]
    assert Order.objects.filter(product=product).count() == 4
    assert DrawEntry.objects.filter(draw__product=product).count() == 20
    assert draws.draw_hold(product_id=product.pk) is None  # a retry later: held already
    assert_gate_and_ledger_agree(product.pk)


def test_a_host_whose_clock_runs_ahead_holds_no_draw_before_redis_says_the_end(
    transactional_db, make_buyers, make_product
):
    product = draw_product(make_product)
    entrants(make_buyers, product, 2)
    Product.objects.filter(pk=product.pk).update(end_time=timezone.now())  # (the ledger's clock only: Redis' end is
    # an hour away, as if this host ran an hour ahead)
    assert draws.draws_due() == [product.pk] and draws.draw_hold(product_id=product.pk) is None
    assert enter(make_buyers(1, prefix="late")[0], product).status_code == 202  # entries still open


def test_a_draw_whose_gate_lost_its_data_during_the_entries_waits_for_an_operator(
    transactional_db, make_buyers, make_product, redis_client
):
    from django.test import Client

    product = draw_product(make_product)
    entrants(make_buyers, product, 3)
    redis_client.delete(keys.meta(product.pk), keys.stock(product.pk), keys.entries(product.pk))  # Redis lost it
    from seckill.purchases.sale_cache import sale_cache_clear

    sale_cache_clear()
    assert Client().get(f"/api/products/{product.pk}/").status_code == 200  # a page view loads it again
    assert redis_client.exists(keys.meta(product.pk))
    assert Draw.objects.get(product=product).gate_lost_at is not None
    close_window(product)
    assert draws.draws_due() == []  # (the tick leaves it to an operator: no error every tick)
    assert draws.draw_hold(product_id=product.pk) is None  # not from the entries made since
    assert Draw.objects.get(product=product).drawn_at is None and not Order.objects.exists()


def test_a_draws_window_is_fixed_once_it_has_ended(transactional_db, make_product):
    from seckill.errors import SaleStarted

    product = draw_product(make_product)
    close_window(product)
    with pytest.raises(SaleStarted):
        product_update(product=Product.objects.get(pk=product.pk), end_time=timezone.now() + timedelta(hours=1))


def test_the_draw_waits_for_the_window_and_is_not_held_from_lost_entries(
    transactional_db, make_buyers, make_product, redis_client
):
    product = draw_product(make_product)
    entrants(make_buyers, product, 2)
    assert draws.draws_due() == [] and draws.draw_hold(product_id=product.pk) is None  # still open
    close_window(product)
    assert draws.draws_due() == [product.pk]
    redis_client.delete(keys.meta(product.pk), keys.entries(product.pk))  # Redis lost the product
    assert draws.draw_hold(product_id=product.pk) is None
    assert Draw.objects.get(product=product).drawn_at is None and not Order.objects.exists()


# --- the waitlist ---------------------------------------------------------------------------------------------
def drawn(make_buyers, make_product, *, stock, count, **fields):
    product = draw_product(make_product, stock_total=stock, **fields)
    buyers = entrants(make_buyers, product, count)
    close_window(product)
    draws.draw_hold(product_id=product.pk)
    ranked = {e.user_id: e.rank for e in DrawEntry.objects.filter(draw__product=product)}
    return product, sorted(buyers, key=lambda b: ranked[b.pk])


def test_a_cancelled_winners_unit_goes_to_the_next_entrant_once(transactional_db, make_buyers, make_product):
    product, ranked = drawn(make_buyers, make_product, stock=2, count=5)
    assert api_client(ranked[2]).get(f"/api/seckill/{product.pk}/entry/").json()["position"] == 1
    order = Order.objects.get(user=ranked[0], product=product)
    order_services.order_cancel(order_id=order.pk)
    lapsed = api_client(ranked[0]).get(f"/api/seckill/{product.pk}/entry/")
    assert lapsed.status_code == 409 and lapsed.json()["code"] == "lapsed" and lapsed.json()["order_id"] == order.pk
    assert draws.waitlists_open() == [product.pk]
    assert draws.waitlist_refill(product_id=product.pk) == 1
    assert draws.waitlist_refill(product_id=product.pk) == 0  # once
    handed = Order.objects.get(user=ranked[2], product=product)
    assert handed.status == Order.Status.PENDING_PAYMENT
    result = api_client(ranked[2]).get(f"/api/seckill/{product.pk}/entry/").json()
    assert result["code"] == "success" and result["order_id"] == handed.pk
    assert api_client(ranked[3]).get(f"/api/seckill/{product.pk}/entry/").json()["position"] == 1
    assert_gate_and_ledger_agree(product.pk)
    call_command("verify_draw", str(product.pk), stdout=StringIO())


def test_after_the_waitlist_closes_units_stay_in_stock(transactional_db, make_buyers, make_product):
    product, ranked = drawn(make_buyers, make_product, stock=1, count=3)
    Product.objects.filter(pk=product.pk).update(waitlist_until=Product.objects.get(pk=product.pk).end_time)
    order_services.order_cancel(order_id=Order.objects.get(user=ranked[0]).pk)
    assert draws.waitlists_open() == [] and draws.waitlist_refill(product_id=product.pk) == 0
    assert Product.objects.get(pk=product.pk).stock_left == 1
    answer = api_client(ranked[1]).get(f"/api/seckill/{product.pk}/entry/")
    assert answer.status_code == 409 and answer.json()["code"] == "not_drawn"
    assert_gate_and_ledger_agree(product.pk)


@pytest.mark.parametrize("round_", range(4))
def test_a_lapsing_winner_paying_at_the_deadline_hands_on_the_unit_at_most_once(
    transactional_db, make_buyers, make_product, round_
):
    """The expiry, the payment and two refills race for one winner's order: either it is paid and nobody gets
    it, or it expired and exactly the next entrant does."""
    product, ranked = drawn(make_buyers, make_product, stock=1, count=3)
    order = Order.objects.get(user=ranked[0], product=product)
    Order.objects.filter(pk=order.pk).update(pay_by=timezone.now() + timedelta(milliseconds=20 * round_))
    start, errors = threading.Barrier(4), []

    def run(step):
        try:
            start.wait()
            step()
        except Exception as exc:  # OrderExpired for a payment that lost is an answer, not an error
            if type(exc).__name__ != "OrderExpired":
                errors.append(exc)
        finally:
            connection.close()

    steps = [
        lambda: order_services.order_pay(order_id=order.pk),
        lambda: order_services.orders_expire_due(limit=10),
        lambda: draws.waitlist_refill(product_id=product.pk),
        lambda: draws.waitlist_refill(product_id=product.pk),
    ]
    threads = [threading.Thread(target=run, args=(s,)) for s in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    draws.waitlist_refill(product_id=product.pk)  # (a refill that ran before the expiry: the next tick's)
    order.refresh_from_db()
    live = Order.objects.filter(product=product, status__in=Order.LIVE)
    if order.status == Order.Status.PAID:
        assert list(live.values_list("user_id", flat=True)) == [ranked[0].pk]
    else:
        assert order.status == Order.Status.EXPIRED
        assert list(live.values_list("user_id", flat=True)) == [ranked[1].pk]
    assert Product.objects.get(pk=product.pk).stock_left == 0
    assert_gate_and_ledger_agree(product.pk)


# --- the public record --------------------------------------------------------------------------------------------
def test_the_draws_record_commits_before_and_publishes_the_seed_and_list_after(
    transactional_db, make_buyers, make_product
):
    import hashlib

    from django.test import Client

    product = draw_product(make_product, stock_total=2)
    page = Client().get(f"/api/products/{product.pk}/").json()
    assert page["sale_mode"] == "draw" and page["draw_url"] == f"/api/products/{product.pk}/draw/"
    before = Client().get(page["draw_url"]).json()
    assert before["drawn"] is False and "seed" not in before and len(before["seed_sha256"]) == 64
    assert Client().get(f"/api/products/{product.pk}/draw/entries/").json()["code"] == "draw_not_held"
    entrants(make_buyers, product, 5)
    close_window(product)
    draws.draw_hold(product_id=product.pk)
    draw_caches_clear()  # (a web process keeps the record for a second)
    after = Client().get(page["draw_url"]).json()
    assert after["seed_sha256"] == before["seed_sha256"] == hashlib.sha256(after["seed"].encode()).hexdigest()
    listed = Client().get(after["entries_url"])
    assert listed["Content-Type"].startswith("text/plain")
    assert hashlib.sha256(listed.content).hexdigest() == after["entries_sha256"]
    codes = listed.content.decode().split()
    assert after["entries_count"] == len(codes) == 5 and after["winners"] == after["units"] == 2
    assert after["passed_over"] == 0
    first_come = make_product()
    assert Client().get(f"/api/products/{first_come.pk}/draw/").json()["code"] == "not_a_draw"
