"""Beat on several hosts: each runs `celery beat`, one runs the schedule (it holds the beat lease in Redis), the
others stand by and take over once the holder dies (seckill/ops/heartbeat.py, docs/deploy.md)."""

import pytest

from seckill.gate import keys
from seckill.ops.heartbeat import beat_lease_ttl
from seckill_site.celery import app as celery_app
from tests.support.polling import wait_for
from tests.support.processes import beat_start, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SENT = "Scheduler: Sending due task"  # beat's INFO line for each task it sends


def sends(directory) -> int:
    return (directory / "beat.log").read_text(errors="replace").count(SENT)


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
        # The second takes over once the lease lapses.
        assert wait_for(lambda: sends(second_dir) > 0, beat_lease_ttl() + 10, interval=0.1)
        assert clean_redis.get(keys.BEAT_LEASE).split(":")[1] == str(second.pid)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        celery_app.control.purge()  # the sweeps they sent, with no worker here
