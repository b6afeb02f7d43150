"""Celery's Redis result backend, storing a purchase's result and its request record in one step.

A decided purchase is written to Redis twice: the request's record (its outcome, for the result endpoint and
replays; off the pending set; its admission slot freed: `redis_store.request_set_outcome`) and the task's
Celery result, which the waiting view reads. Celery stores a result with a read (never overwrite a success)
and then a SET + PUBLISH: with the record, three round trips per purchase. When the result backend and the
gate use the same Redis server and database, this backend hands a purchase's successful result to the
record's script (outcome.lua), which does all of it in one. Celery still builds and encodes the result
(`_get_result_meta`, `encode`); only the storing is shared. Every other task and state, and any backend on
another database, is stored by Celery's own code, and then the task records the outcome itself
(`outcome_recorded_with_result`).

Registered for redis:// and rediss:// result backends in seckill_site/celery.py. Worth its place: accepted
purchases run about a tenth faster with it than with Celery's own store (BENCHMARKS.md).
"""

from functools import cached_property

from celery import states
from celery.app.task import (
    get_actual_ignore_result,  # what Celery's tracer asks before storing a result
)
from celery.backends.redis import RedisBackend
from kombu.utils.encoding import bytes_to_str

from seckill.gate.client import get_client
from seckill.gate.records import request_set_outcome
from seckill.purchases.outcomes import PENDING

# Tasks whose successful return value is an Outcome dict (request_id, product_id, ...) to be recorded.
OUTCOME_TASKS = frozenset({"seckill.purchase"})
_SAME_DATABASE = ("host", "port", "db", "path", "username", "password")


class OutcomeRedisBackend(RedisBackend):
    @cached_property
    def records_outcomes(self) -> bool:
        """True when outcome.lua can store this backend's results: the gate's Redis database, JSON results."""
        gate = get_client().connection_pool.connection_kwargs
        same = all(_norm(k, gate.get(k)) == _norm(k, self.connparams.get(k)) for k in _SAME_DATABASE)
        # outcome.lua reads a stored result to never overwrite a success: plain JSON only.
        return same and self.serializer == "json" and not self.compression

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        task_name = getattr(request, "task", None)
        if (
            state != states.SUCCESS
            or task_name not in OUTCOME_TASKS
            or not self.records_outcomes
            or not _is_final(result)
        ):
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        task_result = (self.get_key_for_task(task_id), self.encode(meta), int(self.expires or 0))
        # Retried on connection errors with the backend's retry policy, as Celery's own SET + PUBLISH is. If
        # Redis stays down, the store fails as Celery's would (the task's state becomes FAILURE, the view
        # answers `pending`) and the request stays pending for the sweeper, which runs it again.
        self.ensure(_record_with_result, (result, task_result))
        return result


def _is_final(outcome) -> bool:
    """A `pending` outcome (a request that could not be given up) is no decision: it must stay pending."""
    return isinstance(outcome, dict) and outcome.get("code") != PENDING


def _record_with_result(outcome: dict, task_result: tuple) -> None:
    request_set_outcome(
        request_id=outcome["request_id"], outcome=outcome, admitted_for=outcome["product_id"], task_result=task_result
    )


def outcome_recorded_with_result(task) -> bool:
    """Will the worker store this run's result through OutcomeRedisBackend, recording its outcome with it?
    Not for a task called directly or eagerly, nor one whose result is ignored."""
    request = task.request
    if request.called_directly or request.is_eager or task.name not in OUTCOME_TASKS:
        return False
    return not get_actual_ignore_result(task, request) and getattr(task.backend, "records_outcomes", False)


_DEFAULTS = {"port": 6379, "db": 0}  # what redis-py assumes when a URL leaves them out


def _norm(name: str, value) -> str:
    value = _DEFAULTS.get(name) if value is None else value
    return "" if value is None else str(value)
