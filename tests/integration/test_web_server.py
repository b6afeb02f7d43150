"""The Procfile's web process (seckill_site/web_server.py) under each server it can run: it answers the API and
the admin's static files, logs every request and each purchase's request_id, and stops cleanly on SIGTERM, within
its graceful timeout even when a worker will not stop."""

import os
import signal
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from seckill.gate import keys
from seckill_site.web_server import DEFAULT_SERVER, SERVERS
from tests.support.http import http, token_for
from tests.support.polling import wait_for
from tests.support.processes import free_port

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
    (request_id,) = [key.rsplit(":", 1)[1] for key in clean_redis.scan_iter(keys.request(product.pk, "*"))]
    # the view's thread logged with the request's id bound (log_context), under the server's own threads
    assert wait_for(lambda: f"[{request_id}] purchase {request_id} not enqueued" in web.logs[-1].read_text(), 5)


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_exits_0_on_sigterm(server, web):
    # (A worker that hangs on its way out is killed after WEB_GRACEFUL_TIMEOUT: the next test. Granian's can,
    # rarely: emmett-framework/granian#875. Shorter than the wait, so such a hang still ends in a clean exit.)
    web(WEB_SERVER=server, WEB_GRACEFUL_TIMEOUT="10")
    proc = web.procs[-1]

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("server", SERVERS)
def test_a_worker_that_will_not_stop_is_killed_after_the_graceful_timeout(server, web):
    web(WEB_SERVER=server, WEB_GRACEFUL_TIMEOUT="3")
    proc = web.procs[-1]
    (worker,) = child_pids(proc.pid)  # one web process (the fixture's WEB_WORKERS=1)
    os.kill(worker, signal.SIGSTOP)  # it can no longer stop by itself: only SIGKILL ends it

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=30) == 0
    assert wait_for(lambda: not pid_alive(worker), 5)


def child_pids(pid: int) -> list[int]:
    task_dir = Path(f"/proc/{pid}/task")
    return [int(child) for task in task_dir.iterdir() for child in (task / "children").read_text().split()]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # (a zombie has exited; its parent has not read its status yet)


def test_an_unknown_server_is_refused(web):
    with pytest.raises(AssertionError, match="WEB_SERVER='nginx'"):
        web(WEB_SERVER="nginx")
