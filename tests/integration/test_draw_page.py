"""A draw on the buyer's page in a real browser (Debian's chromium driven by Playwright) against the real stack (a web
server as the Procfile starts it, a worker, beat): two buyers enter on the page, which counts down to the draw and
shows the seed's commitment; beat holds the draw at the close; the winner sees their order and pays, the other
sees "not drawn", and both see the seed and the entry list published."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from seckill.models import Draw, Order
from tests.integration.test_shop_page import PASSWORD, buyer
from tests.support.browser import ARTIFACTS

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def in_a_thread(query):
    """A query from another thread (Django refuses them from the thread Playwright runs its event loop in)."""
    with ThreadPoolExecutor(1) as other:
        return other.submit(query).result()


def test_two_buyers_enter_on_the_page_one_wins_and_pays_the_other_is_not_drawn(
    worker, beat, web, make_product, collected_static, open_page
):
    users = {name: buyer(name) for name in ("drawer-a", "drawer-b")}
    base = web(SECKILL_DEMO_PAYMENTS="1")
    end = timezone.now() + timedelta(seconds=20)  # (time for both browsers to enter)
    product = make_product(name="Drawn item", stock_total=1, sale_mode="draw", end_time=end, waitlist_until=end)
    commitment = Draw.objects.get(product=product).seed_sha256
    pages = {}
    for name in users:
        page = pages[name] = open_page()
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/shop/{product.pk}/")
        page.wait_for_function("document.querySelector('#countdown').textContent.startsWith('Draw in')")
        assert page.inner_text("#draw-commitment") == commitment and page.inner_text("#buy") == "Enter the draw"
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        page.wait_for_function("!document.querySelector('#buy').disabled", timeout=10_000)
        page.click("#buy")
        page.wait_for_selector("#entry", state="visible", timeout=10_000)
        assert len(page.inner_text("#entry-code")) == 20 and page.is_disabled("#buy")
        assert "in the draw" in page.inner_text("#entry-result")
    for page in pages.values():  # beat holds the draw at the close; each page follows its entry to the result
        page.wait_for_function(
            "['You won', 'Not drawn'].some(t => document.querySelector('#entry-result').textContent.startsWith(t))",
            timeout=60_000,
        )
    (winner,) = in_a_thread(
        lambda: list(Order.objects.filter(product=product).values_list("user__username", flat=True))
    )
    loser = next(name for name in users if name != winner)
    won = pages[winner]
    won.wait_for_selector("#order", state="visible", timeout=10_000)
    assert won.inner_text("#order-status") == "pending payment"
    won.click("#pay")
    won.wait_for_function("document.querySelector('#order-status').textContent === 'paid'")
    assert pages[loser].inner_text("#entry-result").startswith("Not drawn") and pages[loser].is_hidden("#order")
    for page in pages.values():
        page.wait_for_selector("#draw-published", state="visible", timeout=10_000)
        seed = page.inner_text("#draw-seed")
        assert hashlib.sha256(seed.encode()).hexdigest() == commitment and page.inner_text("#draw-count") == "2"
        page.wait_for_function("document.querySelector('#countdown').textContent === 'Drawn'", timeout=5_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    won.screenshot(path=str(ARTIFACTS / "draw-page.png"), full_page=True)
    # the answers the pages explained, alone: "no entry yet" at sign-in, the loser's "not drawn"
    entry = f"{base}/api/seckill/{product.pk}/entry/"
    assert set(won.problems) <= {f"404 {entry}"}, won.problems
    assert f"409 {entry}" in pages[loser].problems and set(pages[loser].problems) <= {f"404 {entry}", f"409 {entry}"}
    assert in_a_thread(lambda: Order.objects.get(product=product).status) == Order.Status.PAID
