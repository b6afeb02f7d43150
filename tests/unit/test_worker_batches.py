"""The worker's purchase batches (seckill_site/integrations/celery_batches.py): one job per free pool process, each
request's own outcome routed back to it, a failed job failing each of its requests. The pool is a stand-in that records
jobs (the prefork pool itself runs in the integration tests: every purchase there goes through this path)."""

from billiard.einfo import ExceptionInfo
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.solo import TaskPool as SoloPool
from celery.exceptions import Terminated, WorkerLostError
from celery.worker import state as worker_state
from django.test import override_settings

from seckill.tasks import purchase_task
from seckill_site import integrations
from seckill_site.celery import app as celery_app
from seckill_site.integrations import celery_batches as worker_batches


class FakeRequest:
    _already_revoked = _already_cancelled = False
    time_limits = (None, None)

    def __init__(self, id, revoked=False):
        self.id, self._revoked = id, revoked
        self.type, self.request_dict, self.body = "seckill.purchase", {"id": id}, b"{}"
        self.kwargs = {"request_id": id}
        self.content_type, self.content_encoding = "application/json", "utf-8"
        self.events = []

    def revoked(self):
        return self._revoked

    def on_accepted(self, pid, time_accepted):
        self.events.append(("accepted", pid))

    def on_success(self, result):
        self.events.append(("success", result))

    def on_failure(self, exc_info, **kwargs):
        self.events.append(("failure", exc_info))


class FakeJob:
    pass


class FakePool:
    """Records apply_async calls; the test plays the child by calling a job's callbacks."""

    def __init__(self):
        self.jobs = []

    def apply_async(self, target, args, accept_callback, callback, error_callback, correlation_id):
        job = FakeJob()
        job.target, job.args, job.accept, job.done, job.fail = target, args, accept_callback, callback, error_callback
        job.ids = [j[1] for j in args[1]]
        self.jobs.append(job)
        return job


def raised(exc) -> ExceptionInfo:
    """What billiard hands the error callback: the exception with its traceback."""
    try:
        raise exc
    except type(exc):
        return ExceptionInfo()


def batcher(processes=2, batch_max=8):
    return worker_batches.Batcher(FakePool(), celery_app, processes=processes, batch_max=batch_max)


def second_job_of(ids: str):
    """A one-process batcher given these requests, whose first job (the first request) is done: the others
    went out together as the second job."""
    b = batcher(processes=1)
    requests = [FakeRequest(i) for i in ids]
    for request in requests:
        b.add(request)
    b.pool.jobs[0].done([(0, "ok", 0.1)])
    return b, requests


def test_an_idle_worker_sends_each_request_at_once():
    b = batcher()
    first, second = FakeRequest("a"), FakeRequest("b")
    b.add(first)
    b.add(second)
    assert [job.ids for job in b.pool.jobs] == [["a"], ["b"]]
    assert b.pool.jobs[0].target is worker_batches.run_batch


def test_requests_that_wait_for_a_process_go_as_one_job_when_it_is_free():
    b = batcher(processes=2, batch_max=3)
    requests = [FakeRequest(str(i)) for i in range(7)]
    for request in requests:
        b.add(request)
    assert [job.ids for job in b.pool.jobs] == [["0"], ["1"]]  # both processes busy: five wait
    b.pool.jobs[0].done([(0, "r0", 0.1)])
    assert [job.ids for job in b.pool.jobs[2:]] == [["2", "3", "4"]]  # at most batch_max in one job
    b.pool.jobs[1].done([(0, "r1", 0.1)])
    assert [job.ids for job in b.pool.jobs[3:]] == [["5", "6"]]
    for job in b.pool.jobs[2:]:
        job.done([(0, f"r{i}", 0.1) for i in job.ids])
    assert b.in_flight == 0 and not b.waiting
    assert [r.events for r in requests] == [[("success", (0, f"r{r.id}", 0.1))] for r in requests]


def test_each_request_of_a_job_gets_its_own_result_and_acceptance():
    b = batcher(processes=1)
    requests = [FakeRequest(i) for i in "xyz"]
    for request in requests:
        b.add(request)
    assert [job.ids for job in b.pool.jobs] == [["x"]]
    b.pool.jobs[0].done([(0, "result-x", 0.1)])
    job = b.pool.jobs[1]
    assert job.ids == ["y", "z"]
    job.accept(4242, 1.0)
    job.done([(0, "result-y", 0.1), (1, "failure-z", 0.2)])  # z's task failed: its own Request decides
    assert requests[0].events == [("success", (0, "result-x", 0.1))]
    assert requests[1].events == [("accepted", 4242), ("success", (0, "result-y", 0.1))]
    assert requests[2].events == [("accepted", 4242), ("success", (1, "failure-z", 0.2))]


def test_a_failed_job_fails_each_of_its_requests_and_frees_its_process():
    b, requests = second_job_of("abc")
    lost = raised(WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."))
    b.pool.jobs[1].fail(lost)  # the child died running b and c
    assert requests[1].events == requests[2].events == [("failure", lost)]
    assert b.in_flight == 0
    b.add(FakeRequest("d"))
    assert b.pool.jobs[-1].ids == ["d"]


def test_revoked_requests_are_not_sent():
    b = batcher(processes=1)
    b.add(FakeRequest("a"))
    b.add(FakeRequest("gone", revoked=True))
    b.add(FakeRequest("b"))
    b.pool.jobs[0].done([(0, "ok", 0.1)])
    assert [job.ids for job in b.pool.jobs] == [["a"], ["b"]]
    only_revoked = batcher(processes=1)
    only_revoked.add(FakeRequest("gone", revoked=True))
    assert only_revoked.pool.jobs == [] and only_revoked.in_flight == 0


def test_the_child_traces_each_request_in_turn():
    calls = []

    def trace(*job):
        calls.append(job)
        return (0, job[1], 0.0)

    jobs = [
        ("seckill.purchase", "a", {}, b"", "application/json", "utf-8"),
        ("seckill.purchase", "b", {}, b"", "application/json", "utf-8"),
    ]
    assert worker_batches.run_batch(trace, jobs) == [(0, "a", 0.0), (0, "b", 0.0)]
    assert calls == jobs


prelude_calls = []


def recording_prelude(kwargs: list) -> None:
    prelude_calls.append(kwargs)


def failing_prelude(kwargs: list) -> None:
    raise RuntimeError("the batch's transaction failed")


def test_the_tasks_prelude_sees_the_whole_batch_before_the_first_trace_and_cannot_stop_it(caplog):
    order = []
    jobs = [("seckill.purchase", i, {}, b"", "application/json", "utf-8") for i in "ab"]
    kwargs = [{"request_id": "a"}, {"request_id": "b"}]
    prelude_calls.clear()
    traced = worker_batches.run_batch(
        lambda *job: order.append(("trace", job[1], len(prelude_calls))) or (0, job[1], 0.0),
        jobs,
        (f"{__name__}:recording_prelude", kwargs),
    )
    assert prelude_calls == [kwargs] and order == [("trace", "a", 1), ("trace", "b", 1)]
    assert traced == [(0, "a", 0.0), (0, "b", 0.0)]
    # A prelude that raises is logged; every request is still traced (and does the work alone).
    assert worker_batches.run_batch(lambda *job: (0, job[1], 0.0), jobs, (f"{__name__}:failing_prelude", kwargs)) == [
        (0, "a", 0.0),
        (0, "b", 0.0),
    ]
    assert "batch prelude" in caplog.text


def test_the_batcher_hands_the_prelude_the_kwargs_of_jobs_of_more_than_one_request():
    b = worker_batches.Batcher(FakePool(), celery_app, processes=1, batch_max=8, prelude="some.module:prelude")
    for request in (FakeRequest("a"), FakeRequest("b"), FakeRequest("c")):
        b.add(request)
    b.pool.jobs[0].done([(0, "ok", 0.1)])
    assert b.pool.jobs[0].args[2] is None  # a request alone does its work alone
    assert b.pool.jobs[1].args[2] == ("some.module:prelude", [{"request_id": "b"}, {"request_id": "c"}])


def test_the_purchase_task_names_its_prelude():
    assert purchase_task.batch_prelude == "seckill.worker.decisions:purchases_decide_together"


class FakeConsumer:
    def __init__(self, pool, hub="the event loop"):
        self.pool, self.hub = pool, hub

    def on_task_request(self, request):
        pass


def test_batching_only_for_the_prefork_pool_and_a_batch_size_over_one(monkeypatch):
    seen = []
    monkeypatch.setattr(worker_batches, "default_strategy", lambda task, app, consumer, **kw: seen.append(consumer))
    prefork = PreforkPool.__new__(PreforkPool)
    monkeypatch.setattr(PreforkPool, "num_processes", property(lambda self: 2))

    worker_batches.batched(purchase_task, celery_app, FakeConsumer(prefork))
    assert isinstance(seen[-1], worker_batches._ConsumerView)
    assert seen[-1].pool is prefork  # everything but on_task_request is the consumer's own
    assert seen[-1].on_task_request.__self__.processes == 2

    solo = FakeConsumer(SoloPool.__new__(SoloPool))
    worker_batches.batched(purchase_task, celery_app, solo)
    assert seen[-1] is solo
    with override_settings(SECKILL_WORKER_BATCH_MAX=1):
        consumer = FakeConsumer(prefork)
        worker_batches.batched(purchase_task, celery_app, consumer)
        assert seen[-1] is consumer
    no_event_loop = FakeConsumer(prefork, hub=None)  # callbacks would run in the pool's result thread
    worker_batches.batched(purchase_task, celery_app, no_event_loop)
    assert seen[-1] is no_event_loop


def test_rebuilt_strategies_keep_the_reserved_requests_and_drop_those_of_a_lost_connection(monkeypatch):
    """update_strategies runs after a reconnect (the consumer has forgotten its reserved requests: their messages
    come back from the broker) and on a pool restart (the connection lives: its requests must still run)."""
    seen = []
    monkeypatch.setattr(worker_batches, "default_strategy", lambda task, app, consumer, **kw: seen.append(consumer))
    monkeypatch.setattr(PreforkPool, "num_processes", property(lambda self: 1))
    consumer = FakeConsumer(PreforkPool.__new__(PreforkPool))
    worker_batches.batched(purchase_task, celery_app, consumer)
    old = seen[-1].on_task_request.__self__
    old.pool = FakePool()
    lost, live = FakeRequest("of-the-lost-connection"), FakeRequest("still-reserved")
    for request in (FakeRequest("running"), lost, live):
        old.add(request)
    worker_state.reserved_requests.add(live)
    try:
        monkeypatch.setattr(worker_batches, "Batcher", RecordingBatcher)
        worker_batches.batched(purchase_task, celery_app, consumer)  # Celery rebuilds the strategies
    finally:
        worker_state.reserved_requests.discard(live)
    new = seen[-1].on_task_request.__self__
    assert not old.waiting
    assert new.added == [live]
    old.pool.jobs[0].done([(0, "ok", 0.1)])
    assert len(old.pool.jobs) == 1  # the old batcher sends nothing more


class RecordingBatcher(worker_batches.Batcher):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.added = []

    def add(self, request):
        self.added.append(request)


def test_a_worker_time_limit_turns_batching_off(monkeypatch):
    seen = []
    monkeypatch.setattr(worker_batches, "default_strategy", lambda task, app, consumer, **kw: seen.append(consumer))
    monkeypatch.setattr(PreforkPool, "num_processes", property(lambda self: 2))
    for limits in ({"time_limit": 30, "soft_time_limit": None}, {"time_limit": None, "soft_time_limit": 20}):
        consumer = FakeConsumer(PreforkPool.__new__(PreforkPool))
        consumer.controller = type("Worker", (), limits)()  # celery worker --time-limit / --soft-time-limit
        worker_batches.batched(purchase_task, celery_app, consumer)
        assert seen[-1] is consumer


def test_a_stopping_pool_takes_nothing_and_nothing_stays_in_flight():
    b = batcher(processes=1)
    b.pool.apply_async = lambda *args, **kwargs: None  # billiard's answer once the pool is closing
    b.add(FakeRequest("a"))
    b.add(FakeRequest("b"))
    assert b.in_flight == 0 and not b.waiting  # (their messages, unacknowledged, come back to the broker)


class Boom(Exception):
    pass


def test_a_handler_that_raises_does_not_strand_the_rest_of_its_job():
    b, requests = second_job_of("abcd")

    def ack_fails(result):
        raise Boom("the broker went away")

    requests[1].on_success = ack_fails
    b.pool.jobs[1].done([(0, "b", 0.1), (0, "c", 0.1), (0, "d", 0.1)])
    assert requests[2].events == [("success", (0, "c", 0.1))]
    assert requests[3].events == [("success", (0, "d", 0.1))]
    assert b.in_flight == 0


def test_a_revoked_check_that_raises_still_sends_the_request_and_frees_nothing_twice():
    b = batcher(processes=1)
    request = FakeRequest("a")

    def broker_down():
        raise Boom("cannot reach the result backend")

    request.revoked = broker_down
    b.add(request)
    assert [job.ids for job in b.pool.jobs] == [["a"]] and b.in_flight == 1


def test_a_process_terminated_to_revoke_one_request_gives_the_others_back():
    b, requests = second_job_of("abc")
    requests[2]._already_revoked = True  # revoke(terminate=True) of c killed the process running b and c
    terminated = raised(Terminated(15))
    b.pool.jobs[1].fail(terminated)
    [(kind_b, info_b)], [(kind_c, info_c)] = requests[1].events, requests[2].events
    assert kind_b == kind_c == "failure"
    assert isinstance(info_b.exception.exc, WorkerLostError)  # requeued by Celery's worker-lost path
    assert info_c is terminated  # revoked, as Celery would
    assert b.in_flight == 0


def test_a_request_with_its_own_time_limit_goes_one_by_one():
    sent = []
    b = worker_batches.Batcher(FakePool(), celery_app, processes=1, batch_max=8, one_by_one=sent.append)
    limited = FakeRequest("limited")
    limited.time_limits = (30, None)
    b.add(limited)
    assert sent == [limited] and b.pool.jobs == [] and b.in_flight == 0


def built_with_versions(monkeypatch, *, celery_version=None, billiard_version=None):
    """The consumers Celery's default strategy was given by two builds of the strategy for a prefork pool,
    the running celery or billiard reporting the given version (None: the installed one)."""
    seen = []
    monkeypatch.setattr(worker_batches, "default_strategy", lambda task, app, consumer, **kw: seen.append(consumer))
    monkeypatch.setattr(PreforkPool, "num_processes", property(lambda self: 2))
    monkeypatch.setattr(integrations, "_warned", set())
    found = {"celery": celery_version, "billiard": billiard_version}
    installed = integrations._version
    monkeypatch.setattr(integrations, "_version", lambda name: found.get(name) or installed(name))
    consumers = [FakeConsumer(PreforkPool.__new__(PreforkPool)) for _ in range(2)]
    for consumer in consumers:  # (a worker builds it once per task, and again after a reconnect)
        worker_batches.batched(purchase_task, celery_app, consumer)
    return consumers, seen


def untested_warnings(caplog) -> list:
    return [
        r
        for r in caplog.records
        if r.name == integrations.__name__ and r.levelname == "WARNING" and worker_batches.__name__ in r.getMessage()
    ]


def test_an_untested_celery_turns_batching_off_with_one_warning(monkeypatch, caplog):
    consumers, seen = built_with_versions(monkeypatch, celery_version="5.8.0")
    assert seen == consumers  # Celery's default strategy, given the consumer itself
    [warning] = untested_warnings(caplog)
    assert f"found celery 5.8.0, billiard {integrations._version('billiard')}" in warning.getMessage()


def test_an_untested_billiard_turns_batching_off_with_one_warning(monkeypatch, caplog):
    consumers, seen = built_with_versions(monkeypatch, billiard_version="4.4.0")
    assert seen == consumers
    [warning] = untested_warnings(caplog)
    assert f"found celery {integrations._version('celery')}, billiard 4.4.0" in warning.getMessage()


def test_the_installed_celery_and_billiard_are_tested_and_batch(monkeypatch, caplog):
    """Installed versions outside TESTED would turn batching off in every worker, the integration tests' too."""
    _, seen = built_with_versions(monkeypatch)
    assert all(isinstance(s, worker_batches._ConsumerView) for s in seen)
    assert untested_warnings(caplog) == []
