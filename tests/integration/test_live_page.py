"""The admin's live sale page: its reading endpoint (staff only, the sale's figures, Redis down), and the page in
a real browser (Debian's chromium driven by Playwright) while a small sale runs against the real stack."""

import json
import threading
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Permission
from django.test import Client

from seckill.ops import metrics
from tests.support.browser import ARTIFACTS
from tests.support.http import api_client, http, token_for
from tests.support.polling import wait_for
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "live-page-password"


def reading_url(product_id: int) -> str:
    return f"/admin/products/product/{product_id}/live/reading/"


@pytest.fixture
def staff():
    user = get_user_model().objects.create_superuser("operator", "operator@example.com", PASSWORD)
    # Hashed as the web process' settings check it (the test settings hash with MD5, for speed).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_reading_is_for_staff_with_view_permission_only(clean_redis, staff, make_buyers, make_product):
    product = make_product(stock_total=2)
    (buyer,) = make_buyers(1)
    clerk = get_user_model().objects.create_user("clerk", password=PASSWORD, is_staff=True)
    for client, status in ((Client(), 302), (logged_in(buyer), 302), (logged_in(clerk), 403)):
        for url in (reading_url(product.pk), f"/admin/products/product/{product.pk}/live/"):
            assert client.get(url).status_code == status, (client, url)
    clerk.user_permissions.add(Permission.objects.get(codename="view_product"))
    assert logged_in(clerk).get(reading_url(product.pk)).status_code == 200
    assert logged_in(staff).get(reading_url(product.pk + 1000)).status_code == 404


@pytest.mark.worker
def test_the_reading_counts_this_products_sale(worker, staff, make_buyers, make_product):
    product = make_product(stock_total=2)
    other = make_product(stock_total=5, name="Other item")
    client = logged_in(staff)
    before = client.get(reading_url(product.pk)).json()
    assert (before["stock_left"], before["orders"]["created"], before["product"]["status"]) == (2, 0, "Active")

    buyers = make_buyers(5)
    codes = [
        api_client(b).post("/api/seckill/", {"product_id": product.pk}, format="json").json()["code"] for b in buyers
    ]
    api_client(buyers[0]).post(
        "/api/seckill/", {"product_id": other.pk}, format="json"
    )  # another product's sale: not counted
    assert sorted(codes) == ["sold_out"] * 3 + ["success"] * 2

    response = client.get(reading_url(product.pk))
    assert "no-store" in response["Cache-Control"]
    after = response.json()
    assert after["stock_left"] == 0 and after["ledger_stock_left"] == 0
    assert after["orders"] == {"created": 2, "units_live": 2, "pending_payment": 2, "paid": 0, "closed": 0}
    assert after["product"]["status"] == "Sold Out"
    answered = {code: after["answers"].get(code, 0) - before["answers"].get(code, 0) for code in after["answers"]}
    assert answered == {"success": 2, "sold_out": 3}
    assert after["latency"]["count"] - before["latency"]["count"] == 5
    assert after["latency"]["buckets"][-1] == [None, after["latency"]["count"]]  # +Inf holds every request
    assert (after["admission_slots"], after["redis"]) == (0, "ok")
    assert (after["beat"], after["beat_age_s"]) == ("never seen", None)  # no beat runs in this test
    # the worker's heartbeat (every 2 s; the test's clean Redis dropped the last one)
    assert wait_for(lambda: client.get(reading_url(product.pk)).json()["workers_live"] == 1, 10)


def test_made_up_product_ids_share_one_label(clean_redis, make_buyers):
    """A client sending random ids must not grow the metrics' series: unknown products count under ""."""
    (buyer,) = make_buyers(1)
    unknown = metrics.PURCHASE_ANSWERS.labels("product_not_found", "")._value.get()
    for product_id in (10**9, 10**9 + 1):
        assert api_client(buyer).post("/api/seckill/", {"product_id": product_id}, format="json").status_code == 404
    assert metrics.PURCHASE_ANSWERS.labels("product_not_found", "")._value.get() == unknown + 2
    assert metrics.product_purchase_figures(10**9)["answers"] == {}


def test_the_reading_adds_the_other_hosts_counters(web, clean_redis, staff, make_buyers, make_product, settings):
    """Each host sums its own processes' counters; the reading adds those of SECKILL_METRICS_PEERS (their
    /metrics?counters=1) and says which hosts it could not read."""
    product = make_product(stock_total=0)
    buyers = make_buyers(4)
    peer = web()  # another host's web server (its own processes, its own counters)
    for buyer in buyers[:3]:
        assert http("POST", f"{peer}/api/seckill/", {"product_id": product.pk}, token_for(buyer))[0] == 409
    assert api_client(buyers[3]).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 409
    gone = f"http://127.0.0.1:{free_port()}"  # a host that does not answer
    closed = web(SECKILL_OPS_ALLOWED_NETWORKS="10.0.0.0/8")  # one whose /metrics this host may not read
    settings.SECKILL_METRICS_PEERS = (peer, gone, closed)

    reading = logged_in(staff).get(reading_url(product.pk)).json()

    assert reading["answers"] == {"sold_out": 4} and reading["latency"]["count"] == 4
    assert reading["hosts"] == {"this": "ok", peer: "ok", gone: "unreachable", closed: "refused"}


@pytest.mark.slow
def test_with_redis_down_the_reading_still_answers_from_the_database(web, staff, make_product):
    product = make_product(stock_total=4)
    base = web(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    opener = admin_session(base)
    with opener.open(base + reading_url(product.pk), timeout=30) as response:
        reading = json.load(response)
    assert reading["redis"] == "unreachable"
    assert (reading["stock_left"], reading["ledger_stock_left"], reading["orders"]["created"]) == (None, 4, 0)


def admin_session(base: str) -> urllib.request.OpenerDirector:
    """An HTTP client logged in to the admin through its login form (session cookie, CSRF token)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/admin/login/", timeout=30).read()
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = urllib.parse.urlencode({"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    request = urllib.request.Request(f"{base}/admin/login/?next=/admin/", data=form.encode(), method="POST")
    request.add_header("Referer", f"{base}/admin/login/")
    opener.open(request, timeout=30).read()
    assert any(cookie.name == "sessionid" for cookie in jar), "admin login failed"
    opener.cookies = jar
    return opener


# --- in a real browser (the fixtures open_page and collected_static: tests/conftest.py) ---------------------
@pytest.mark.worker
@pytest.mark.slow
def test_the_live_page_shows_a_sale_as_it_happens(
    worker, web, staff, make_buyers, make_product, collected_static, open_page
):
    stock, buyers = 40, make_buyers(160)
    product = make_product(name="Live demo item", stock_total=stock)
    base = web()
    page = open_page()

    page.goto(f"{base}/admin/login/?next=/admin/products/product/{product.pk}/change/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.click("text=Live sale")  # the product's page links to its live view
    page.wait_for_function("window.seckillLive && window.seckillLive.readings >= 2", timeout=30_000)
    assert page.inner_text("#fig-sold") == "0" and page.inner_text("#fig-stock-left") == str(stock)

    # The sale, in four waves; between waves the page takes new readings, so the charts show its course.
    tokens = [token_for(b) for b in buyers]
    codes = []
    for wave in range(4):
        readings = page.evaluate("window.seckillLive.readings")
        threads = [
            threading.Thread(
                target=lambda t: codes.append(http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, t)[1]),
                args=(t,),
            )
            for t in tokens[wave::4]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        page.wait_for_function(f"window.seckillLive.readings >= {readings + 2}", timeout=30_000)
    assert sum(1 for body in codes if body["code"] == "success") == stock

    page.wait_for_function(
        f"""document.querySelector('#fig-sold').textContent === '{stock}'
            && document.querySelector('#fig-stock-left').textContent === '0'
            && document.querySelector('#fig-p99').textContent !== '–'""",
        timeout=30_000,
    )
    columns = page.evaluate("window.seckillLive.columns")
    success_rate, sold_out_rate = columns["requests"][1], columns["requests"][3]
    assert max(v or 0 for v in success_rate) > 0 and max(v or 0 for v in sold_out_rate) > 0
    assert max(v or 0 for v in columns["sales"][1]) > 0
    assert columns["stock"][1][0] == stock and columns["stock"][1][-1] == 0  # stock left fell to 0 on the chart
    assert page.inner_text("#fig-status") == "Sold Out"
    assert page.inner_text("#fig-reconcile") in ("not checked yet", "agree")
    # No beat runs here: nothing would sweep lost requests or expire orders, and the page says so in red.
    assert page.inner_text("#fig-beat") == "never seen"
    assert page.eval_on_selector("#fig-beat", "el => getComputedStyle(el).color") == "rgb(186, 33, 33)"
    assert not page.problems, page.problems

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "live-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_the_reading_follows_a_draw_from_its_entries_to_its_winners(clean_redis, staff, make_buyers, make_product):
    from django.utils import timezone

    from seckill.catalogue.services import product_update
    from seckill.worker import draw as draws

    product = make_product(stock_total=2, sale_mode="draw")
    client = logged_in(staff)
    assert client.get(reading_url(product.pk)).json()["draw"]["state"] == "taking entries"
    for b in make_buyers(3):
        assert api_client(b).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 202
    taking = client.get(reading_url(product.pk)).json()
    assert taking["draw"]["entries"] == 3 and taking["answers"].get("entered") == 3
    product_update(product=product, end_time=timezone.now())
    assert client.get(reading_url(product.pk)).json()["draw"]["state"] == "drawing"
    draws.draw_hold(product_id=product.pk)
    drawn = client.get(reading_url(product.pk)).json()["draw"]
    assert drawn["state"] == "drawn, waitlist open" and (drawn["entries"], drawn["winners"], drawn["handed_on"]) == (
        3,
        2,
        0,
    )
    assert client.get(reading_url(make_product().pk)).json()["draw"] is None  # first come
