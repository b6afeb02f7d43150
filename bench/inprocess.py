"""Per-request cost of the Django/DRF stack alone: the WSGI application called directly in one thread (no HTTP
server, no client), for a sold-out `POST /api/seckill/`, `GET /api/time/` and `GET /` (a plain Django view, to
show what DRF costs), side by side; and a profile.

    .venv/bin/python bench/inprocess.py            # microseconds per request, three rounds
    .venv/bin/python bench/inprocess.py --profile  # plus cProfile of the sold-out POST (top 40 by cumulative),
                                                   # and the functions it spends more in than GET /api/time/

Settings as the run command sets them (metrics in multiprocess files, default rate limits and log level). Uses its
own SQLite file and Redis database 12 (BENCH_INPROCESS_REDIS_DB), emptied first.
"""

import argparse
import io
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()

    from seckill_site.local_redis import ensure_redis, with_db

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    ensure_redis(base)
    db_file = Path(tempfile.mkdtemp()) / "inprocess.sqlite3"
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        DATABASE_URL=f"sqlite:///{db_file}",
        REDIS_URL=with_db(base, int(os.environ.get("BENCH_INPROCESS_REDIS_DB", "12"))),
        # What the run command sets: metrics in multiprocess files, the default rate limits and log level.
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(),
    )
    import django

    django.setup()
    import redis
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from seckill.catalogue.services import product_create
    from seckill_site.wsgi import application

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    call_command("migrate", verbosity=0)
    product = product_create(name="sold out", stock_total=0)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"in{i}", password="!") for i in range(500)]
    )
    tokens = [str(AccessToken.for_user(u)) for u in users]
    body = json.dumps({"product_id": product.pk}).encode()

    def environ(method, path, token, payload=b""):
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "wsgi.input": io.BytesIO(payload),
            "CONTENT_LENGTH": str(len(payload)),
            "CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": "Bearer " + token,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.errors": sys.stderr,
        }

    def run(method, path, payload, n):
        statuses = set()
        began = time.perf_counter()
        for i in range(n):
            response = application(
                environ(method, path, tokens[i % len(tokens)], payload), lambda status, headers: statuses.add(status)
            )
            b"".join(response)
            response.close()
        return (time.perf_counter() - began) / n * 1e6, statuses

    for round_ in range(3):
        post, post_status = run("POST", "/api/seckill/", body, args.requests)
        get, get_status = run("GET", "/api/time/", b"", args.requests)
        plain, _ = run("GET", "/", b"", args.requests)  # a plain Django view: the same middleware, no DRF
        print(
            f"round {round_ + 1}: sold-out POST {post:.0f} us {sorted(post_status)}, GET /api/time/ {get:.0f} us "
            f"{sorted(get_status)}, ratio {get / post:.2f}; GET / (plain Django) {plain:.0f} us"
        )
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, "POST", "/api/seckill/", body, args.requests)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        floor = cProfile.Profile()
        floor.runcall(run, "GET", "/api/time/", b"", args.requests)
        _print_extra(stats, pstats.Stats(floor), args.requests)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    return 0


def _print_extra(post, get, n: int) -> None:
    """Functions by how much more time (their own, per request) the sold-out POST spends in them than GET /api/time/."""
    post_own = {f: row[2] for f, row in post.stats.items()}
    get_own = {f: row[2] for f, row in get.stats.items()}
    functions = post_own.keys() | get_own.keys()
    extra = sorted(((post_own.get(f, 0) - get_own.get(f, 0), f) for f in functions), reverse=True)
    total = sum(post_own.values()) - sum(get_own.values())
    print(f"sold-out POST spends {total / n * 1e6:.0f} us more per request (profiled) than GET /api/time/, in:")
    for seconds, (file, line, name) in extra[:30]:
        print(f"  {seconds / n * 1e6:6.1f} us  {name}  {file.split('site-packages/')[-1]}:{line}")


if __name__ == "__main__":
    sys.exit(main())
