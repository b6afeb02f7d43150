"""Celery's Redis result backend, handing a task's success to a recorder that stores it with its own records.

Changes: `celery.backends.redis.RedisBackend._store_result` (private) in subclasses of it and of SentinelBackend,
the result backends of redis://, rediss:// and sentinel:// URLs (through the loader's `override_backends`).
Why: a task whose success is also written to the app's own records (a purchase's outcome) cost two writes: Celery
stores a result with a read (never overwrite a success) then a SET + PUBLISH. A recorder the owning app registers
(`register`) stores both in one step; Celery still builds and encodes the result (`_get_result_meta`, `encode`).
Measured: docs/benchmark-log.md, "History", first round. Every other task and state is stored by Celery's code.
Off: Celery's own backend; the task records its outcome itself (the app asks `records`).
"""

from __future__ import annotations

from typing import Protocol

from celery import states
from celery.backends.redis import RedisBackend, SentinelBackend
from kombu.utils.encoding import bytes_to_str

from seckill_site import integrations

TESTED = {"celery": ("5.7.0",)}


class Recorder(Protocol):
    def accepts(self, backend: RedisBackend) -> bool:
        """May this backend's results be stored by the recorder (its Redis database, its serializer)?"""

    def wants(self, result) -> bool:
        """Is this successful result one the recorder records?"""

    def store(self, result, stored_result: tuple[str, bytes | str, int]) -> None:
        """Record `result` and store Celery's (result key, encoded result, TTL s) with it, in one step."""


_recorders: dict[str, Recorder] = {}


def register(task_name: str, recorder: Recorder) -> None:
    """The app that owns the task `task_name` records its successes (its AppConfig.ready)."""
    _recorders[task_name] = recorder


class _Recording:
    """What the recording backends add to Celery's: a recorder's successes are stored by the recorder."""

    def records(self, task_name: str) -> bool:
        """Whether this backend hands `task_name`'s successes to its recorder."""
        known = self.__dict__.setdefault("_records", {})
        if task_name not in known:
            recorder = _recorders.get(task_name)
            known[task_name] = recorder is not None and recorder.accepts(self)
        return known[task_name]

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        task_name = getattr(request, "task", None)
        recorder = _recorders.get(task_name) if state == states.SUCCESS and self.records(task_name) else None
        if recorder is None or not recorder.wants(result):
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        stored_result = (self.get_key_for_task(task_id), self.encode(meta), int(self.expires or 0))
        # Retried on connection errors with the backend's retry policy, as Celery's own SET + PUBLISH is. If
        # Redis stays down, the store fails as Celery's would (the task's state becomes FAILURE).
        self.ensure(recorder.store, (result, stored_result))
        return result


class RecordingRedisBackend(_Recording, RedisBackend):
    pass


class RecordingSentinelBackend(_Recording, SentinelBackend):
    """The results on a Redis Sentinel set: a recorder accepts it only if it shares the recorder's database."""


def backends() -> dict[str, str]:
    """The loader's `override_backends`: these backends for redis://, rediss:// and sentinel://, or none
    (Celery's own)."""
    if not integrations.allowed(__name__, TESTED):
        return {}
    schemes = {scheme: "RecordingRedisBackend" for scheme in ("redis", "rediss")}
    schemes["sentinel"] = "RecordingSentinelBackend"
    return {scheme: f"{__name__}:{backend}" for scheme, backend in schemes.items()}
