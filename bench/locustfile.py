"""The burst's buyers, for Locust (headless, FastHttpUser): every buyer fires at START_AT, follows a 202 to its
outcome, and a loser (sold_out, busy, ...) retries once.

bench/run.py starts several Locust processes (one is slower than the server on this machine), each with its share
of the buyers in a JSON spec file (BENCH_SPEC: base, path, product_id, tokens, start_at, out). A Locust user is a
keep-alive connection that serves buyers one after another from its process' queue; the process quits when all
of its buyers have a final answer and writes {"latencies": [...], "answers": [[status, code, seconds], ...]} to
the spec's `out` file. Locust's own statistics are not used: the 4xx answers of a flash sale are not failures.
"""

import json
import os
import time
from collections import deque

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

FINAL_RETRY_CODES = {"sold_out", "busy", "rate_limited", "unavailable"}
PENDING_DEADLINE_S = 60  # a buyer stops following a pending request after this long

SPEC = json.loads(open(os.environ["BENCH_SPEC"]).read()) if os.environ.get("BENCH_SPEC") else None
QUEUE = deque(SPEC["tokens"]) if SPEC else deque()
LATENCIES: list[float] = []
ANSWERS: list[tuple[int, str, float]] = []


class Buyer(FastHttpUser):
    wait_time = constant(0)
    host = SPEC["base"] if SPEC else "http://127.0.0.1:8000"

    def on_start(self):
        gevent.sleep(max(0.0, SPEC["start_at"] - time.time()))

    def call(self, method: str, url: str, token: str, body: str | None = None):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        for _ in range(2):  # a dropped connection is tried once more
            began = time.monotonic()
            with self.client.request(method, url, data=body, headers=headers, catch_response=True) as response:
                response.success()
                if response.status_code:
                    LATENCIES.append(time.monotonic() - began)
                    try:
                        return response.status_code, response.json(), response.headers.get("Retry-After")
                    except ValueError:
                        return response.status_code, {"code": f"http_{response.status_code}"}, None
        return 599, {"code": "connection_error"}, None

    @task
    def buy(self):
        if not QUEUE:
            raise StopUser()
        token = QUEUE.popleft()
        try:
            status, code = self.one_buyer(token)
        except Exception as error:  # counted, never lost: the process quits once every buyer has an answer
            status, code = 599, f"client_error:{type(error).__name__}"
        ANSWERS.append((status, code, time.time() - SPEC["start_at"]))
        if len(ANSWERS) == len(SPEC["tokens"]):
            # From its own greenlet: quit() stops every user, this one included, and called from a user it
            # sometimes never returned (the process then waited for its run-time limit with every buyer answered).
            gevent.spawn(self.environment.runner.quit)

    def one_buyer(self, token: str) -> tuple[int, str]:
        body = json.dumps({"product_id": SPEC["product_id"]})
        tries = 0
        while True:
            status, data, retry_after = self.call("POST", SPEC["path"], token, body)
            deadline = time.monotonic() + PENDING_DEADLINE_S
            while status == 202 and "result_url" in data:
                if time.monotonic() > deadline:  # shown as its own code in the result, and the audit's "pending"
                    return status, "still_pending"
                gevent.sleep(0.05)
                status, data, retry_after = self.call("GET", data["result_url"], token)
            tries += 1
            if data.get("code") in FINAL_RETRY_CODES and tries < 2:
                if retry_after and data.get("code") == "busy":
                    gevent.sleep(min(float(retry_after), 1.0))
                continue
            return status, data.get("code")


@events.quitting.add_listener
def write_results(environment, **kwargs):
    if SPEC:
        with open(SPEC["out"], "w") as out:
            json.dump({"latencies": LATENCIES, "answers": ANSWERS}, out)
