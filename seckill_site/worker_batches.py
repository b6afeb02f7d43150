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
Celery's worker-lost path (reject_on_worker_lost requeues it, unless its success was stored already).

Only for the prefork pool, tasks without time limits, and messages without an ETA or a rate limit (a retry's
countdown): anything else takes Celery's default strategy unchanged. Batching needs the worker to hold more
messages than it has processes: CELERY_WORKER_PREFETCH_MULTIPLIER (settings) > 1.
"""
from __future__ import annotations

import threading
from collections import deque
from weakref import ref

from celery.app.trace import fast_trace_task, trace_task_ret
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.worker.strategy import default as default_strategy
from django.conf import settings


def batched(task, app, consumer, **kwargs):
    """A task's Strategy (Task.Strategy = "seckill_site.worker_batches:batched")."""
    batch_max = settings.SECKILL_WORKER_BATCH_MAX
    pool = consumer.pool
    if (batch_max < 2 or not isinstance(pool, PreforkPool) or task.time_limit or task.soft_time_limit
            or app.conf.task_time_limit or app.conf.task_soft_time_limit):
        return default_strategy(task, app, consumer, **kwargs)
    batcher = Batcher(pool, app, processes=pool.num_processes, batch_max=batch_max)
    return default_strategy(task, app, _ConsumerView(consumer, batcher.add), **kwargs)


class _ConsumerView:
    """The consumer as Celery's default strategy sees it, except that a ready request goes to the batcher.
    (Requests delayed by an ETA or a rate limit come back through the real consumer, one by one.)"""

    def __init__(self, consumer, on_task_request):
        self._consumer = consumer
        self.on_task_request = on_task_request

    def __getattr__(self, name):
        return getattr(self._consumer, name)


class Batcher:
    def __init__(self, pool, app, *, processes: int, batch_max: int):
        self.pool = pool
        self.trace = fast_trace_task if app.use_fast_trace_task else trace_task_ret
        self.processes = max(1, processes)
        self.batch_max = batch_max
        self.waiting: deque = deque()
        self.in_flight = 0
        self.lock = threading.Lock()  # the event loop calls in, but callbacks may come from the pool's threads

    def add(self, request) -> None:
        with self.lock:
            self.waiting.append(request)
            batches = self._take()
        for batch in batches:
            self._send(batch)

    def _take(self) -> list:
        """Batches to send now: one per free process (called with the lock held)."""
        batches = []
        while self.waiting and self.in_flight < self.processes:
            size = min(self.batch_max, len(self.waiting))
            batches.append([self.waiting.popleft() for _ in range(size)])
            self.in_flight += 1
        return batches

    def _done(self) -> None:
        with self.lock:
            self.in_flight -= 1
            batches = self._take()
        for batch in batches:
            self._send(batch)

    def _send(self, batch: list) -> None:
        batch = [request for request in batch if not request.revoked()]  # (revoked() acks and reports them)
        if not batch:
            self._done()
            return

        def on_accepted(pid, time_accepted):
            for request in batch:
                request.on_accepted(pid, time_accepted)

        def on_success(results):
            try:
                for request, result in zip(batch, results):
                    request.on_success(result)
            finally:
                self._done()

        def on_failure(exc_info, **kwargs):  # the job failed as a whole: the child died, or the pool stopped it
            try:
                for request in batch:
                    request.on_failure(exc_info)
            finally:
                self._done()

        try:
            result = self.pool.apply_async(
                run_batch,
                args=(self.trace, [
                    (r.type, r.id, r.request_dict, r.body, r.content_type, r.content_encoding) for r in batch
                ]),
                accept_callback=on_accepted,
                callback=on_success,
                error_callback=on_failure,
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


def run_batch(trace, jobs: list) -> list:
    """In the pool's child: trace each request as Celery would one (fast_trace_task catches the task's errors
    and stores its result); returns each one's (failed, result, runtime) for the worker's Request."""
    return [trace(*job) for job in jobs]
