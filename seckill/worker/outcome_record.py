"""A purchase's outcome recorded with its Celery result, in one Redis step.

A decided purchase is written to Redis twice: the request's record (its outcome, for the result endpoint and
replays; off the pending set; its admission slot freed: `gate.records.request_set_outcome`) and the task's Celery
result, which the waiting view reads. When the result backend shares the gate's Redis server and database, the
backend (seckill_site/integrations/celery_result_store.py) hands a purchase's success to this recorder, whose
script (outcome.lua) writes both. Otherwise, and when that backend is off, the task records the outcome itself
(`outcome_recorded_with_result`). Registered in SeckillConfig.ready().
"""

from __future__ import annotations

from celery.app.task import get_actual_ignore_result  # what Celery's tracer asks before storing a result

from seckill.gate.client import get_client, is_cluster
from seckill.gate.records import request_set_outcome
from seckill.purchases.outcomes import PENDING

PURCHASE_TASK = "seckill.purchase"  # its successes are Outcome dicts (request_id, product_id, ...)
_SAME_DATABASE = ("host", "port", "db", "path", "username", "password")
_DEFAULTS = {"port": 6379, "db": 0}  # what redis-py assumes when a URL leaves them out


class OutcomeRecorder:
    def accepts(self, backend) -> bool:
        """The gate's Redis database, plain JSON results (outcome.lua reads a stored one: never over a success).
        Never a gate on a cluster: the result's key is in another slot than the record's."""
        if is_cluster():
            return False
        gate = get_client().connection_pool.connection_kwargs
        same = all(_norm(k, gate.get(k)) == _norm(k, backend.connparams.get(k)) for k in _SAME_DATABASE)
        return same and backend.serializer == "json" and not backend.compression

    def wants(self, result) -> bool:
        """A `pending` outcome (a request that could not be given up) is no decision: it must stay pending."""
        return isinstance(result, dict) and result.get("code") != PENDING

    def store(self, result: dict, stored_result: tuple) -> None:
        request_set_outcome(
            product_id=result["product_id"],
            request_id=result["request_id"],
            outcome=result,
            free_slot=True,
            task_result=stored_result,
        )


def outcome_recorded_with_result(task) -> bool:
    """Will the worker's result backend record this run's outcome with its result? Not for a task called directly
    or eagerly, nor one whose result is ignored, nor with a backend that does not record it."""
    request = task.request
    if request.called_directly or request.is_eager or task.name != PURCHASE_TASK:
        return False
    records = getattr(task.backend, "records", None)
    return not get_actual_ignore_result(task, request) and records is not None and records(task.name)


def _norm(name: str, value) -> str:
    value = _DEFAULTS.get(name) if value is None else value
    return "" if value is None else str(value)
