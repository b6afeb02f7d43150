"""The burst's buyers: every buyer fires at once, follows a 202 to its outcome, and a loser retries once.

Run by bench/run.py in several processes (one Python process is slower than the server), each with many
threads on keep-alive connections. Writes one JSON document of raw figures on stdout.
"""
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

FINAL_RETRY_CODES = {"sold_out", "busy", "rate_limited", "unavailable"}


def run(base: str, path: str, product_id: int, tokens: list[str], threads: int, start_at: float) -> dict:
    parts = urlsplit(base)
    latencies, answers, lock = [], [], threading.Lock()
    body = json.dumps({"product_id": product_id})

    def buyer_loop(chunk):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

        def call(method, url, payload=None, token=None):
            nonlocal conn
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            for attempt in range(2):
                try:
                    began = time.monotonic()
                    conn.request(method, url, body=payload, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    with lock:
                        latencies.append(time.monotonic() - began)
                    try:
                        return response.status, json.loads(data), response.getheader("Retry-After")
                    except ValueError:
                        return response.status, {"code": f"http_{response.status}"}, None
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            return 599, {"code": "connection_error"}, None

        while time.time() < start_at:
            time.sleep(0.001)
        for token in chunk:
            tries = 0
            while True:
                status, data, retry_after = call("POST", path, body, token)
                while status == 202 and "result_url" in data:
                    time.sleep(0.05)
                    status, data, retry_after = call("GET", data["result_url"], None, token)
                tries += 1
                if data.get("code") in FINAL_RETRY_CODES and tries < 2:
                    if retry_after and data.get("code") == "busy":
                        time.sleep(min(float(retry_after), 1.0))
                    continue
                break
            with lock:
                answers.append((status, data.get("code"), time.time() - start_at))

    chunks = [tokens[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=buyer_loop, args=(chunk,)) for chunk in chunks if chunk]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"latencies": latencies, "answers": answers}


if __name__ == "__main__":
    spec = json.loads(sys.stdin.read())
    result = run(spec["base"], spec["path"], spec["product_id"], spec["tokens"], spec["threads"], spec["start_at"])
    json.dump(result, sys.stdout)
