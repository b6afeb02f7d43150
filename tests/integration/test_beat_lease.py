"""Beat on several hosts: each runs `celery beat`, one runs the schedule (it holds the beat lease in Redis), the
others stand by and take over once the holder dies (seckill/ops/heartbeat.py, docs/deploy.md)."""

import pytest
import redis

from seckill.gate import keys, operations
from seckill.ops.beat_lease import BeatLease
from seckill.ops.heartbeat import beat_lease_ttl
from seckill_site.celery import app as celery_app
from tests.support.polling import wait_for
from tests.support.processes import beat_start, process_env

pytestmark = pytest.mark.django_db(transaction=True)

SENT = "Scheduler: Sending due task"  # beat's INFO line for each task it sends


def sends(directory) -> int:
    return (directory / "beat.log").read_text(errors="replace").count(SENT)


@pytest.mark.slow
def test_two_beats_run_the_schedule_once_and_the_second_takes_over_when_the_first_dies(clean_redis, tmp_path):
    env = process_env(SECKILL_SWEEP_INTERVAL="1")  # the sweep every second: a send to count
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir(), second_dir.mkdir()
    first = beat_start(env, first_dir, level="info")
    second = None
    try:
        assert wait_for(lambda: (clean_redis.get(keys.BEAT_LEASE) or "").split(":")[1:2] == [str(first.pid)], 30)
        second = beat_start(env, second_dir, level="info")
        assert wait_for(lambda: "beat: Starting" in (second_dir / "beat.log").read_text(errors="replace"), 30)
        sent_before = sends(first_dir)
        assert wait_for(lambda: sends(first_dir) >= sent_before + 3, 30)  # the first runs the schedule...
        assert sends(second_dir) == 0  # ...and the second sends nothing meanwhile

        first.kill()
        first.wait(10)
        # The second takes over once the lease lapses (it asks every second).
        assert wait_for(lambda: sends(second_dir) > 0, beat_lease_ttl() + 3, interval=0.1)
        assert clean_redis.get(keys.BEAT_LEASE).split(":")[1] == str(second.pid)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        celery_app.control.purge()  # the sweeps they sent, with no worker here


# --- the lease itself (seckill/ops/beat_lease.py), on the real Redis with a short lifetime ----------------------
TTL_S = 0.3


def test_a_holder_that_cannot_reach_redis_stops_before_another_takes_over(clean_redis, monkeypatch):
    first, second = BeatLease(TTL_S), BeatLease(TTL_S)
    assert first.renew() and not second.renew()
    real_hold = operations.beat_lease_hold

    def unreachable_for_the_first(*, beat_id, ttl_ms):
        if beat_id == first.beat_id:
            raise redis.ConnectionError("Redis unreachable from the first beat's host")
        return real_hold(beat_id=beat_id, ttl_ms=ttl_ms)

    monkeypatch.setattr(operations, "beat_lease_hold", unreachable_for_the_first)
    # It runs the schedule on until its lease ends, which is before the second can take it: never both.
    assert wait_for(second.renew, 5, interval=0.01)
    assert not first.held() and not first.renew()


def test_a_holder_whose_sends_fail_lets_another_take_over(clean_redis):
    first, second = BeatLease(TTL_S), BeatLease(TTL_S)
    assert first.renew()
    first.sends_failing = True  # the broker refuses this beat's sends
    assert wait_for(lambda: second.renew(), 5, interval=0.01)
    assert not first.renew()  # it leaves the others a lease's time: it does not take the lease back at once
    first.sends_failing = False


def test_a_clean_stop_hands_the_lease_over_at_once(clean_redis):
    first, second = BeatLease(60), BeatLease(60)
    assert first.renew() and not second.renew()
    first.release()
    assert second.renew() and not first.held()
