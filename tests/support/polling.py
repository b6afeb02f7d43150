"""Waiting on state: a poll with a deadline, never a blind sleep."""

import time


def wait_for(predicate, deadline_s, interval=0.02) -> bool:
    """Poll `predicate` until it holds or the deadline passes; its last answer."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
