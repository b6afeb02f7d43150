"""Purchase tasks handed to the prefork pool several at a time.

Celery gives each task message to a pool process on its own: the worker pickles it down a pipe, the child
answers "accepted" and then the result, and the worker reads both: about as much CPU per task as a purchase's
own work. Under a flash sale's load the purchase queue is never empty, so this strategy keeps at most one job
per pool process in flight and gives a process that becomes free every purchase request that arrived meanwhile
(up to SECKILL_WORKER_BATCH_MAX) as one job. An idle worker still sends a request on at once: batching only
happens when requests would otherwise wait for a process anyway.

Every request keeps its own life: the child runs each through Celery's own tracer (its result stored under its
own task id, its retries, its signals), and the worker acknowledges, retries or rejects each message as Celery
would (`Request.on_success`, `on_failure`). A child that dies fails the whole job: each request then takes
Celery's worker-lost path (reject_on_worker_lost requeues it, unless its success was stored already); one that
is terminated to revoke a request revokes that one, and gives the others back the same way.

Only for the prefork pool run by the worker's event loop, with no time limit (the task's, the app's or the
worker's `--time-limit`: a job has one limit, not one per request); messages with an ETA
(a retry's countdown), a rate limit or a time limit of their own go to the pool one by one, as Celery sends
them. Batching needs the worker to hold more
messages than it has processes: CELERY_WORKER_PREFETCH_MULTIPLIER (settings) > 1.

Changes: Celery's task strategy (`Task.Strategy`), its worker's Request handlers and the prefork pool's `apply_async`,
all internals. Why: Celery's CPU per task, as much as a purchase's own work (measured: docs/benchmark-log.md, "History",
"Purchases batched in the worker"). Off (on any Celery or billiard version but those in TESTED, or
SECKILL_LIBRARY_PATCHES=0): each task gets Celery's default strategy, and the worker logs one warning naming the
versions found.
"""

from __future__ import annotations

import logging
from collections import deque
from contextvars import ContextVar
from weakref import ref

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from celery.app.trace import fast_trace_task, trace_task_ret
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.exceptions import Terminated, WorkerLostError
from celery.worker import state as worker_state
from celery.worker.strategy import default as default_strategy
from django.conf import settings
from kombu.utils.imports import symbol_by_name

from seckill_site import integrations

logger = logging.getLogger(__name__)

# Exact versions this module was tested with (requirements.txt pins them): retest before adding one.
TESTED = {"celery": ("5.7.0",), "billiard": ("4.3.2",)}


def batched(task, app, consumer, **kwargs):
    """A task's Strategy (Task.Strategy = "seckill_site.integrations.celery_batches:batched").

    Only with the worker's event loop (the Redis and AMQP transports), where the pool's callbacks run in the
    loop's thread: without it they run in the pool's result thread, which a full pool would block."""
    batch_max = settings.SECKILL_WORKER_BATCH_MAX
    pool, worker = consumer.pool, getattr(consumer, "controller", None)
    time_limited = (
        task.time_limit
        or task.soft_time_limit
        or app.conf.task_time_limit
        or app.conf.task_soft_time_limit
        or getattr(worker, "time_limit", None)
        or getattr(worker, "soft_time_limit", None)
    )  # (a job has one limit, not one per request)
    if (
        batch_max < 2
        or not isinstance(pool, PreforkPool)
        or consumer.hub is None
        or time_limited
        or not _tested_versions()
    ):  # (last: it warns only when batching would be on otherwise)
        return default_strategy(task, app, consumer, **kwargs)
    batchers = consumer.__dict__.setdefault("_seckill_batchers", {})
    batcher = Batcher(
        pool,
        app,
        processes=pool.num_processes,
        batch_max=batch_max,
        one_by_one=consumer.on_task_request,
        prelude=getattr(task, "batch_prelude", None),
    )
    previous = batchers.get(task.name)
    batchers[task.name] = batcher
    if previous is not None:
        # The strategies are built again after a lost connection, and on a pool restart. A request still
        # reserved is one of a live connection (a pool restart): it moves to the new batcher. The others belong
        # to the lost connection (the consumer forgot them, their messages come back from the broker): dropped,
        # as Celery drops its own waiting requests.
        waiting = [request for request in previous.waiting if request in worker_state.reserved_requests]
        previous.waiting.clear()
        for request in waiting:
            batcher.add(request)
    return default_strategy(task, app, _ConsumerView(consumer, batcher.add), **kwargs)


def _tested_versions() -> bool:
    """Whether this strategy may run here (integrations.allowed: the versions in TESTED, the switch on)."""
    return integrations.allowed(__name__, TESTED)


class _ConsumerView:
    """The consumer as Celery's default strategy sees it, except that a ready request goes to the batcher.
    (Requests delayed by an ETA or a rate limit come back through the real consumer, one by one.)"""

    def __init__(self, consumer, on_task_request):
        self._consumer = consumer
        self.on_task_request = on_task_request

    def __getattr__(self, name):
        return getattr(self._consumer, name)


class Batcher:
    def __init__(self, pool, app, *, processes: int, batch_max: int, one_by_one=None, prelude: str | None = None):
        self.pool = pool
        self.prelude = prelude  # the task's `batch_prelude`: "module:function" the child calls with the kwargs
        self.one_by_one = one_by_one  # Celery's own hand-off, for a request with a time limit of its own
        self.trace = fast_trace_task if app.use_fast_trace_task else trace_task_ret
        self.processes = max(1, processes)
        self.batch_max = batch_max
        self.waiting: deque = deque()
        self.in_flight = 0

    def add(self, request) -> None:
        if self.one_by_one is not None and any(request.time_limits):  # (a job has one limit, not one each)
            self.one_by_one(request)
            return
        self.waiting.append(request)
        for batch in self._take():
            self._send(batch)

    def _take(self) -> list:
        """Batches to send now: one per free process. (Every call comes from the event loop's one thread.)"""
        batches = []
        while self.waiting and self.in_flight < self.processes:
            size = min(self.batch_max, len(self.waiting))
            batches.append([self.waiting.popleft() for _ in range(size)])
            self.in_flight += 1
        return batches

    def _done(self) -> None:
        self.in_flight -= 1
        for batch in self._take():
            self._send(batch)

    def _send(self, batch: list) -> None:
        try:
            batch = [request for request in batch if not _revoked(request)]
            if not batch:
                self._done()
                return
            prelude = (self.prelude, [r.kwargs for r in batch]) if self.prelude and len(batch) > 1 else None
            result = self.pool.apply_async(
                run_batch,
                args=(
                    self.trace,
                    [(r.type, r.id, r.request_dict, r.body, r.content_type, r.content_encoding) for r in batch],
                    prelude,
                ),
                accept_callback=lambda pid, time_accepted: _each(batch, "on_accepted", pid, time_accepted),
                callback=lambda results: self._finished(batch, results),
                error_callback=lambda exc_info, **kwargs: self._failed(batch, exc_info),
                correlation_id=batch[0].id,
            )
        except BaseException:
            self._done()
            raise
        if result is None:  # the pool is closing: the messages, unacknowledged, go back to the broker
            self._done()
            return
        for request in batch:
            request._apply_result = ref(result)  # (revoke with terminate=True finds the job's process)

    def _finished(self, batch: list, results: list) -> None:
        try:
            for request, result in zip(batch, results):
                _each([request], "on_success", result)
        finally:
            self._done()

    def _failed(self, batch: list, exc_info) -> None:
        """The job failed as a whole: its process died, or was terminated to revoke one of its requests."""
        try:
            innocent, exc = exc_info, exc_info.exception
            if isinstance(exc, ExceptionWithTraceback):
                exc = exc.exc
            if isinstance(exc, Terminated):  # the others are given back, as if the process died
                try:
                    raise WorkerLostError(f"Pool process terminated to revoke another request: {exc!r}")
                except WorkerLostError:
                    innocent = ExceptionInfo()
            for request in batch:
                revoked = request._already_revoked or request._already_cancelled or request.id in worker_state.revoked
                _each([request], "on_failure", exc_info if revoked else innocent)
        finally:
            self._done()


def _revoked(request) -> bool:
    """Celery's check (which acks and reports a revoked request); if that fails (the broker is down), the
    request runs: a purchase is safe to run, and is decided once."""
    try:
        return request.revoked()
    except Exception:
        logger.exception("could not check whether %s was revoked", request.id)
        return False


def _each(requests: list, method: str, *args) -> None:
    """Call a Request's handler for each request: one that raises (its ack or result store failed) must not
    leave the others of its job unanswered, their messages held by the channel for good."""
    for request in requests:
        try:
            getattr(request, method)(*args)
        except Exception:
            logger.exception("%s of %s failed", method, request.id)


def run_batch(trace, jobs: list, prelude: tuple[str, list[dict]] | None = None) -> list:
    """In the pool's child: trace each request as Celery would one (fast_trace_task catches the task's errors
    and stores its result); returns each one's (failed, result, runtime) for the worker's Request.

    With a `prelude` (the task's `batch_prelude`, "module:function", and each request's kwargs), that function
    is called first with the list of kwargs: it may do the batch's work together (one database transaction) and
    return what it did for each, by a key of the task's own (a request id); each task takes its share with
    `prelude_result` while the job runs. It must not raise; if it does, the tasks do all the work."""
    results = None
    if prelude is not None:
        path, kwargs = prelude
        try:
            results = symbol_by_name(path)(kwargs)
        except Exception:
            logger.exception("batch prelude %s failed", path)
    token = _prelude_results.set(dict(results) if isinstance(results, dict) else {})
    try:
        return [trace(*job) for job in jobs]
    finally:
        _prelude_results.reset(token)


# What the running job's prelude left for its tasks (run_batch sets it around their traces).
_prelude_results: ContextVar[dict | None] = ContextVar("prelude_results", default=None)


def prelude_result(key):
    """The share of the running job's prelude for the task of `key`, taken once; None outside a job, or when the
    prelude left nothing for it (batching off: always None)."""
    results = _prelude_results.get()
    return None if results is None else results.pop(key, None)
