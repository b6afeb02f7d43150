"""The buyer's page in a real browser (Debian's chromium driven by Playwright) against the real stack (a web
server as the Procfile starts it, a worker): a buyer signs in, the page counts down in the server's time, solves
the product's challenge in Web Workers, takes a path, buys and pays; a second browser that skips the challenge is
refused. The page's pieces (the template, the listing, the link from /) without a browser too."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from django.utils import timezone

from seckill.models import Order
from tests.support.browser import ARTIFACTS

PASSWORD = "shop-page-password"


def buyer(name):
    user = get_user_model().objects.create_user(name)
    # Hashed as the web process' settings check it (the test settings hash with MD5, for speed).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def test_the_shop_lists_products_on_sale_and_each_has_its_page(transactional_db, clean_redis, make_product):
    on_sale = make_product(name="Listed item")
    ended = make_product(
        name="Ended item", start_time=timezone.now() - timedelta(hours=2), end_time=timezone.now() - timedelta(hours=1)
    )
    client = Client()
    assert b'href="/shop/"' in client.get("/").content
    listing = client.get("/shop/").content.decode()
    assert f'href="/shop/{on_sale.pk}/"' in listing and "Ended item" not in listing
    page = client.get(f"/shop/{on_sale.pk}/").content.decode()
    assert f'data-product-id="{on_sale.pk}"' in page and "seckill/altcha/pbkdf2.js" in page
    assert '<label for="username">' in page and 'role="status"' in page
    assert client.get(f"/shop/{ended.pk + 1000}/").status_code == 404


@pytest.mark.worker
@pytest.mark.slow
def test_a_buyer_signs_in_solves_the_challenge_buys_and_pays_on_the_page(
    worker,
    web,
    make_product,
    collected_static,
    open_page,
):
    person, bot = buyer("shopper"), buyer("scripted")
    base = web(SECKILL_DEMO_PAYMENTS="1")
    start = timezone.now() + timedelta(seconds=10)  # (once the server is up: the page must see the countdown)
    product = make_product(
        name="Guarded item",
        stock_total=3,
        anti_bot="challenge",
        challenge_cost=3000,
        start_time=start,
        path_lead_seconds=60,
    )
    page = open_page()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone's screen

    page.goto(f"{base}/shop/{product.pk}/")
    page.wait_for_function("document.querySelector('#countdown').textContent.startsWith('Starts in')")
    assert "ms" in page.inner_text("#clock-offset")  # the offset from /api/time/, shown
    assert page.is_disabled("#buy")
    page.fill("#username", "shopper")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")  # the keyboard signs in
    page.wait_for_selector("#signed-in", state="visible")
    # In the lead time the page solves the challenge and takes its path before the start.
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Ready')", timeout=60_000)
    assert "device checked in" in page.inner_text("#status")
    page.wait_for_function("!document.querySelector('#buy').disabled", timeout=30_000)  # the start
    assert time.time() >= start.timestamp() - 1  # (the server's clock; this machine's is the same)
    page.focus("#buy")
    page.keyboard.press("Enter")
    page.wait_for_selector("#order", state="visible", timeout=30_000)
    assert page.inner_text("#order-status") == "pending payment" and page.inner_text("#status") == "Bought!"
    assert ":" in page.inner_text("#order-countdown")
    # the live stock, as the page reads it every 2 s (the server's copy is at most a second old)
    page.wait_for_function("document.querySelector('#product-stock').textContent === '2 of 3'", timeout=10_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "shop-page.png"), full_page=True)
    page.click("#pay")
    page.wait_for_function("document.querySelector('#order-status').textContent === 'paid'")
    assert "Paid" in page.inner_text("#status")
    assert not page.problems, page.problems

    # The same buyer in another browser: Buy finds the order already made, and shows it.
    again = open_page()
    again.goto(f"{base}/shop/{product.pk}/")
    again.fill("#username", "shopper")
    again.fill("#password", PASSWORD)
    again.click("#signin-button")
    again.wait_for_function("!document.querySelector('#buy').disabled", timeout=60_000)
    again.click("#buy")
    again.wait_for_selector("#order", state="visible", timeout=60_000)
    assert again.inner_text("#order-status") == "paid" and "already bought" in again.inner_text("#status")
    assert again.problems == [f"409 {base}/api/seckill/"], again.problems  # (the refusal it explained, alone)

    # A second browser whose script skips the challenge: no path without a solution, no purchase without a path.
    other = open_page()
    other.goto(f"{base}/shop/{product.pk}/")
    answers = other.evaluate(
        """async ([pid, password]) => {
            const token = (await (await fetch('/api/auth/token/', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({username: 'scripted', password})})).json()).access;
            const post = async (url, body) => (await fetch(url, {method: 'POST', body: JSON.stringify(body),
                headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + token}})).json();
            return [(await post(`/api/seckill/${pid}/path/`, {})).code,
                    (await post('/api/seckill/', {product_id: pid})).code];
        }""",
        [product.pk, PASSWORD],
    )
    assert answers == ["challenge_required", "path_required"]
    with ThreadPoolExecutor(1) as other_thread:  # (Django refuses queries from the thread Playwright runs in)
        orders = other_thread.submit(
            lambda: list(Order.objects.filter(product=product).values_list("user_id", "status"))
        ).result()
    assert orders == [(person.pk, "paid")] and bot.pk not in {user for user, _ in orders}
