"""Set up and run the whole system locally: Redis (embedded if none answers), migrations, static files, the
demo data, then the Procfile's web and worker under honcho. Ctrl-C stops everything this started."""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import environ  # noqa: E402

from seckill_site.local_redis import ensure_redis  # noqa: E402
from seckill_site.secret_key import dotenv_ensure_secret_key  # noqa: E402


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def ensure_secret_key(dotenv: Path) -> None:
    """A fresh machine has no secret key: write a random one into .env (never committed; mode 600), once, so that
    every process of this checkout, manage.py included, signs tokens with the same key."""
    if os.environ.get("DJANGO_SECRET_KEY", "").strip():
        return
    if dotenv_ensure_secret_key(dotenv, lambda: secrets.token_urlsafe(50)):
        print(f"Wrote a random DJANGO_SECRET_KEY to {dotenv}", flush=True)


def main() -> int:
    # .env the way the settings read it (exported variables win), once: the processes below inherit it.
    named = os.environ.get("SECKILL_DOTENV", str(ROOT / ".env"))  # (empty: no .env, as the settings read it)
    dotenv = Path(named) if named else None
    if dotenv is not None:
        ensure_secret_key(dotenv)
        if dotenv.is_file():
            environ.Env.read_env(dotenv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")
    os.environ.setdefault("SECKILL_DEMO_PAYMENTS", "1")  # the demo has no payment provider: buyers pay at once
    redis_url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    embedded = ensure_redis(redis_url)
    print(f"Redis: {'started an embedded redis-server at ' if embedded else 'using '}{redis_url}", flush=True)

    (ROOT / ".run").mkdir(exist_ok=True)  # beat keeps its schedule file there
    # Every web and worker process writes its metrics' samples here; /metrics sums them. Wiped: a new run counts
    # from zero (samples of processes long gone would add up otherwise).
    metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / ".run" / "prometheus")))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")
    manage("seed_demo")
    print(
        "Shop: http://127.0.0.1:8000/shop/  API: http://127.0.0.1:8000/api/products/  Admin: http://127.0.0.1:8000/admin/",
        flush=True,
    )

    # --env /dev/null: honcho would read .env again, overriding exported values and cutting values at '#'.
    processes = ["web", "worker", "beat"] + (["flower"] if os.environ.get("SECKILL_FLOWER") == "1" else [])
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "--env", "/dev/null", *processes], cwd=ROOT
    )
    try:
        return honcho.wait()
    except KeyboardInterrupt:  # honcho got the same Ctrl-C and stops web and worker itself
        return honcho.wait()


if __name__ == "__main__":
    sys.exit(main())
