"""The Procfile's web process (seckill_site/web_server.py) under each server it can run: it answers the API and
the admin's static files, logs every request and each purchase's request_id, and stops cleanly on SIGTERM."""

import signal
import urllib.request

import pytest
from django.core.management import call_command

from seckill_site.web_server import DEFAULT_SERVER, SERVERS
from tests.conftest import free_port, http, token_for, wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_the_procfile_web_runs_granian_by_default(web):
    assert DEFAULT_SERVER == "granian"
    base = web()

    with urllib.request.urlopen(f"{base}/api/time/", timeout=10) as response:
        assert response.status == 200 and response.headers["Server"] == "granian"


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_answers_api_and_static_files_and_logs_requests(server, web, settings):
    call_command("collectstatic", "--noinput", verbosity=0)  # as the run command does (into STATIC_ROOT)
    base = web(WEB_SERVER=server)

    with urllib.request.urlopen(f"{base}/api/time/", timeout=10) as response:
        assert response.status == 200 and response.headers["Server"].startswith(server)
    # The admin's styles come from whitenoise inside Django, whatever the server.
    with urllib.request.urlopen(f"{base}/{settings.STATIC_URL.strip('/')}/admin/css/base.css", timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/css")
    assert wait_for(lambda: "GET /api/time/" in web.logs[-1].read_text(), 5), web.logs[-1].read_text()


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_logs_the_purchase_request_id(server, web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    base = web(WEB_SERVER=server, CELERY_BROKER_URL=DEAD_REDIS)

    status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(user))

    assert (status, body["code"]) == (503, "unavailable")
    (request_id,) = [key.rsplit(":", 1)[1] for key in clean_redis.scan_iter("seckill:request:*")]
    # the view's thread logged with the request's id bound (log_context), under the server's own threads
    assert wait_for(lambda: f"[{request_id}] purchase {request_id} not enqueued" in web.logs[-1].read_text(), 5)


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_exits_0_on_sigterm(server, web):
    web(WEB_SERVER=server)
    proc = web.procs[-1]

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=30) == 0


def test_an_unknown_server_is_refused(web):
    with pytest.raises(AssertionError, match="WEB_SERVER='nginx'"):
        web(WEB_SERVER="nginx")
