#!/usr/bin/env python
"""What the proof-of-work challenge costs each side (seckill/antibot/challenges.py), at a product's challenge_cost:

    .venv/bin/python bench/challenge_cost.py [--cost N] [--solves N]

1. A buyer's device: challenges solved in Chromium (Debian's chromium, driven by Playwright) by ALTCHA's worker as
   the buyer's page runs it (static/seckill/altcha/pbkdf2.js, one worker per core up to 4, the counter split
   between them), at full speed and with the CPU throttled 4× (DevTools' Emulation.setCPUThrottlingRate: a
   stand-in for a phone; it slows the page's own thread, which the run shows by timing one step there, and
   does not reach Web Workers here: BENCHMARKS.md says what that means).
2. A script's: the same challenges solved by ALTCHA's Python solver (hashlib's PBKDF2 in C, as a native bot's),
   CPU seconds per solution on one core.
3. The server's: a challenge made (one key derivation) and a solution verified (two HMACs, the derived key's
   signature), CPU per call in this process.
Prints one JSON object; BENCHMARKS.md keeps the figures with this command line.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import secrets
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = """<!doctype html><meta charset="utf-8"><title>solve</title><script>
// The buyer's page's solve (seckill/static/seckill/shop.js), without its progress bar.
window.solve = (challenge) => new Promise((resolve, reject) => {
  const n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)), pool = [];
  const started = performance.now();
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const worker = new Worker('/seckill/altcha/pbkdf2.js');
    pool.push(worker);
    worker.onmessage = (m) => {
      if (m.data && m.data.derivedKey) {
        pool.forEach((w) => w.terminate());
        resolve({ms: performance.now() - started, counter: m.data.counter, workers: n});
      } else if (++failed === n) reject(new Error('not solved'));
    };
    worker.postMessage({type: 'work', challenge, counterStart: i, counterStep: n, timeout: 600000});
  }
});
// One step of the solver on the page's own thread, ms (what DevTools' throttle slows, for comparison).
window.stepMs = async (iterations, steps) => {
  const salt = new Uint8Array(16), started = performance.now();
  for (let i = 0; i < steps; i++) {
    const key = await crypto.subtle.importKey('raw', new Uint8Array([i & 255]), {name: 'PBKDF2'}, false, ['deriveKey']);
    const derived = await crypto.subtle.deriveKey({name: 'PBKDF2', salt, iterations, hash: 'SHA-256'}, key,
      {name: 'AES-GCM', length: 256}, true, ['encrypt']);
    await crypto.subtle.exportKey('raw', derived);
  }
  return (performance.now() - started) / steps;
};
</script>"""


def serve_static() -> tuple[http.server.ThreadingHTTPServer, int]:
    """The project's static files and the solve page, on a free port."""
    static = ROOT / "seckill" / "static"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/solve.html":
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(static)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(values) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "p90": round(percentile(values, 0.9), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cost", type=int, default=None, help="the product's challenge_cost (default: the model's)")
    p.add_argument("--solves", type=int, default=12, help="challenges solved on each side")
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    import altcha
    import django

    django.setup()
    from django.conf import settings

    from products.models import Product
    from seckill.antibot.challenges import verifier

    cost = args.cost or Product._meta.get_field("challenge_cost").default
    check = verifier()
    expires = int(time.time()) + 3600

    def made():
        return check.challenge_make(user_id=1, product_id=1, cost=cost, expires_at=expires)

    # 3. the server: making and verifying, CPU per call
    started = time.process_time()
    challenges = [made() for _ in range(200)]
    make_ms = (time.process_time() - started) / 200 * 1000

    # 2. a script's solver: CPU per solution (one core)
    solutions, script_cpu = [], []
    for challenge in challenges[: args.solves]:
        parsed = altcha.Challenge.from_dict(challenge)
        before = time.process_time()
        solution = altcha.solve_challenge(parsed, timeout=0)
        script_cpu.append(time.process_time() - before)
        solutions.append(altcha.Payload(parsed, solution).to_base64())
    rounds = 2000
    started = time.process_time()
    for i in range(rounds):
        check.solution_verify(solutions[i % len(solutions)], user_id=1, product_id=1)
    verify_us = (time.process_time() - started) / rounds * 1e6

    # 1. a buyer's device: Chromium, full speed and throttled 4x
    from tests.support.browser import CHROMIUM

    if CHROMIUM is None or not shutil.which(CHROMIUM):
        raise SystemExit("no Chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    server, port = serve_static()
    browser_runs = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for rate in (1, 4):
            page = browser.new_context().new_page()
            page.goto(f"http://127.0.0.1:{port}/solve.html")
            if rate != 1:
                page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})
            times, workers = [], 0
            for challenge in challenges[args.solves : 2 * args.solves]:
                solved = page.evaluate("(c) => window.solve(c)", challenge)
                times.append(solved["ms"] / 1000)
                workers = solved["workers"]
            step = page.evaluate(f"window.stepMs({settings.SECKILL_CHALLENGE_ITERATIONS}, 2000)")
            browser_runs[f"throttle_{rate}x"] = {
                "seconds": summary(times),
                "workers": workers,
                "page_thread_step_ms": round(step, 4),
            }
            page.close()
        browser.close()
    server.shutdown()
    print(
        json.dumps(
            {
                "command": "bench/challenge_cost.py " + " ".join(sys.argv[1:]),
                "challenge_cost": cost,
                "pbkdf2_iterations_per_step": settings.SECKILL_CHALLENGE_ITERATIONS,
                "cores": os.cpu_count(),
                "chromium_solve": browser_runs,
                "script_solve_cpu_s": summary(script_cpu),
                "script_solutions_per_core_second": round(1 / statistics.mean(script_cpu), 2),
                "server_make_cpu_ms": round(make_ms, 3),
                "server_verify_cpu_us": round(verify_us, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
