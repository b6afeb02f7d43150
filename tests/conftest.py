"""The tests' fixtures: the real Redis (the test database number), a real Celery worker process, beat, a web
server as the Procfile starts it, buyers and products. What they are built from is in tests/support/."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from seckill.gate.client import client_reset, get_client
from seckill_site.celery import app as celery_app
from tests.support.browser import CHROMIUM
from tests.support.data import buyers_create, product_for_sale
from tests.support.processes import WebServer, WorkerProcess, beat_start, process_env
from tests.support.redis_cluster import RedisClusterProcesses
from tests.support.redis_db import delete_app_keys


# --- Redis ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_client():
    client = get_client()
    assert client.connection_pool.connection_kwargs.get("db") == int(os.environ.get("TEST_REDIS_DB", "15"))
    # Emptied first too: a run killed before its cleanup leaves results under fixed task ids and queued messages
    # (a later run's AsyncResult.get returned the earlier run's result). Nothing of this session is there yet:
    # the worker fixture and every test that publishes come after this fixture.
    client.flushdb()
    yield client
    client.flushdb()  # the test database number is ours alone: leave it empty


@pytest.fixture
def clean_redis(redis_client):
    """The project's keys removed before and after the test (broker queues and bindings are left alone)."""
    delete_app_keys(redis_client)
    yield redis_client
    delete_app_keys(redis_client)


@pytest.fixture(autouse=True)
def web_caches_cleared():
    """Each test starts with this process' copies of sale states and product rows empty: ids are reused from one
    test's database to the next, within the copies' lifetime (SECKILL_LOCAL_CACHE_TTL)."""
    from seckill.draws.selectors import draw_caches_clear
    from seckill.purchases import sale_cache

    sale_cache.sale_cache_clear()
    draw_caches_clear()


@pytest.fixture(scope="session")
def gate_cluster(tmp_path_factory):
    """A Redis Cluster of 3 masters on private ports (redis-server processes), for the session."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("gate-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def on_gate_cluster(gate_cluster, settings):
    """This process' gate on that cluster (SECKILL_GATE_CLUSTER), emptied before and after: a script whose keys
    are in two slots fails there (redis-py refuses it before sending)."""
    gate_cluster.flush()
    settings.SECKILL_GATE_URL, settings.SECKILL_GATE_CLUSTER = gate_cluster.url, True
    client_reset()
    yield gate_cluster
    client_reset()  # (the settings fixture then restores the gate's settings: the next client is the server's)
    gate_cluster.flush()


# --- processes: the Celery worker, beat, the web server ---------------------------------------------------
@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, redis_client, tmp_path_factory):
    """One real `celery worker` (prefork) on the test database and the test Redis, for the whole session."""
    name = f"test-{os.getpid()}@localhost"
    worker = WorkerProcess(name, tmp_path_factory.mktemp("worker") / "worker.log")
    celery_app.control.purge()
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(worker_process, transactional_db, clean_redis):
    """A running worker, a database it can see (committed data), clean Redis keys; the queue purged after."""
    yield worker_process
    # Leave the worker consuming every queue and the queues empty for the next test.
    for queue in celery_app.amqp.queues:
        celery_app.control.add_consumer(queue, destination=[worker_process.name], reply=True, timeout=2)
    celery_app.control.purge()


@pytest.fixture
def beat(worker_process, tmp_path):
    """celery beat with the project's default schedule (the sweeper, expiry, reconciliation), as the Procfile
    runs it, on the test Redis and database; its tasks run on the session's worker."""
    proc = beat_start(process_env(), tmp_path)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def web(tmp_path, transactional_db):
    """`web(host="127.0.0.1", **env)` starts a web server as the Procfile does (tests/support/processes.WebServer)
    on the test database with the given environment, bound to `host`, and returns its base URL. `web.procs` and
    `web.logs` hold each server's process and log file."""
    servers: list[WebServer] = []

    def start(host="127.0.0.1", **env_overrides):
        server = WebServer(tmp_path, host, **env_overrides)
        servers.append(server)
        start.procs.append(server.proc)
        start.logs.append(server.log_path)
        return server.wait_ready()

    start.procs, start.logs = [], []  # (tests that stop a web server find its process here)
    yield start
    for server in servers:
        server.stop()


# --- a real browser (tests/support/browser.py) -------------------------------------------------------------
@pytest.fixture(scope="module")
def collected_static():
    """The static files as the run command serves them (collectstatic, then WhiteNoise)."""
    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture
def open_page():
    """Opens a page in Chromium, each in a browser context of its own (its own cookies and storage: another
    browser, as a site sees it). Call it after the test's database writes: Playwright's sync API runs an event
    loop in this thread, and Django refuses database calls from a thread with one."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed: apt-get install -y chromium (or set CHROMIUM to its path)")
    from playwright.sync_api import sync_playwright

    opened = []

    def open_():
        if not opened:  # (one Playwright per thread)
            playwright = sync_playwright().start()
            opened.append((playwright, playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])))
        page = opened[0][1].new_context(viewport={"width": 1280, "height": 1100}).new_page()
        page.problems = []

        def console_error(message) -> bool:
            return message.type == "error" and not message.text.startswith("Failed to load resource")

        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.on("console", lambda message: console_error(message) and page.problems.append(message.text))
        # a failed load is reported with its address as a response (the favicon Chromium asks for is not one)
        page.on(
            "response",
            lambda response: response.status >= 400 and page.problems.append(f"{response.status} {response.url}"),
        )
        return page

    yield open_
    for playwright, browser in opened:
        browser.close()
        playwright.stop()


# --- data -------------------------------------------------------------------------------------------------
@pytest.fixture
def make_buyers():
    """`make_buyers(count, prefix="buyer")`: that many active buyers."""
    return buyers_create


@pytest.fixture
def make_product():
    """`make_product(**fields)`: a product on sale now (10 units, one per buyer, unless overridden)."""
    return product_for_sale
