import os

import kombu.transport
from celery import Celery, signals
from celery.backends import asynchronous
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")


class BoundedDrainer(asynchronous.Drainer):
    """Keeps `AsyncResult.get(timeout=T)` close to T.

    Celery's drainer checks the timeout only between waits of `interval`, which `get()` does not pass down
    (it stays 1 s), so `get(timeout=0.01)` took a whole second and `get(timeout=3)` up to four. Each wait is
    woken at once by the result's pub/sub message; this only caps how long a wait for nothing may last.
    """

    def drain_events_until(self, p, timeout=None, interval=1, on_interval=None, wait=None):
        if timeout is not None:
            interval = max(0.01, min(interval, timeout / 10))
        return super().drain_events_until(p, timeout=timeout, interval=interval, on_interval=on_interval, wait=wait)


asynchronous.drainers["default"] = BoundedDrainer


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel builds a new redis.Redis client for every publish and ack (about 0.1 ms of CPU
    each, a fifth of a publish). One client per channel and connection pool serves them all: a redis-py client
    is thread-safe and only borrows connections from the pool. The asynchronous (consumer) client is unchanged."""

    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool, client = self.pool, self._sync_client
        if client is None or client.connection_pool is not pool:  # a reconnect replaces the pool
            client = self._sync_client = super()._create_client()
        return client


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


# redis:// and rediss:// brokers get this transport; the URL's scheme still decides TLS (kombu reads the alias).
for _scheme in ("redis", "rediss"):
    kombu.transport.TRANSPORT_ALIASES[_scheme] = "seckill_site.celery:RedisTransport"
    kombu.transport._transport_cache.pop(_scheme, None)

app = Celery("seckill_site")


@app.on_after_configure.connect
def _result_backends(sender, **kwargs):
    """The result backends the settings give by URL scheme (SECKILL_RESULT_BACKENDS: the sale's stores a purchase's
    result with its outcome record), named by path as Celery names its own. Set once the configuration is read,
    before Celery makes its backend."""
    from django.conf import settings

    sender.loader.override_backends = dict(getattr(settings, "SECKILL_RESULT_BACKENDS", {}))


# Every Celery setting lives in Django settings as CELERY_<NAME>; celery_config reads them once into a dict.
app.config_from_object("seckill_site.celery_config:CONFIG")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections_as_per_request(**kwargs):
    """Treat each task like a web request: keep the database connection for CONN_MAX_AGE, drop a broken one.

    Celery's Django fixup otherwise closes the connection before and after every task (CELERY_DB_REUSE_MAX
    unset), so each purchase opened a new one, about a tenth of a task's time. With CELERY_DB_REUSE_MAX set,
    the fixup closes only every so many tasks, and this handler does what Django does around each request:
    close a connection that has errors or outlived CONN_MAX_AGE, so that a database restart heals at the next
    task. Not for a task run eagerly (in the caller's process, perhaps inside its transaction), as the fixup."""
    from django.db import close_old_connections

    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()


# How long a pool process that is exiting waits for the worker to read the results it sent (billiard waits 30 s).
# On a warm shutdown under load a process often ends one result ahead of what the worker counted as read (the
# worker stops reading once no job it knows of is waiting; one way: Celery's flush drops a job written to a
# process but not yet seen accepted, whose message goes back to the broker, and the process runs it anyway),
# so a deploy's worker took half a minute to stop. A process recycled while the worker runs has its results
# read within milliseconds; a purchase run again after a lost result is decided once.
POOL_PROCESS_EXIT_WAIT_S = 2.0


@signals.worker_init.connect
def _bound_pool_process_exit_wait(**kwargs):
    import billiard.pool

    if hasattr(billiard.pool, "GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT"):  # (a unit test fails if it goes)
        interval = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL
        billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT = max(1, round(POOL_PROCESS_EXIT_WAIT_S / interval))
