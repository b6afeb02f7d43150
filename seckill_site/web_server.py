"""The web process (the Procfile's `web`): `python -m seckill_site.web_server` becomes the HTTP server that serves
`seckill_site.wsgi:application`, chosen by WEB_SERVER:

- `granian` (default): Granian's WSGI interface, `--workers WEB_WORKERS --blocking-threads WEB_THREADS`. A Rust
  HTTP server, much faster than gunicorn on the same cores (measured side by side: docs/benchmark-log.md, "The
  front server, logging, the product page").
- `gunicorn`: gunicorn's gthread worker, `--workers WEB_WORKERS --threads WEB_THREADS`, as before.

Both give every process WEB_THREADS threads: the purchase view blocks on its task's result (up to
SECKILL_RESULT_TIMEOUT), so a thread is one waiting buyer. Both log every request (WEB_ACCESS_LOG=0: none; Granian's
lines are written by a thread of their own, `seckill_site/log_handlers.py`, as `granian_logging.json` says), stop
taking connections on SIGTERM and finish the requests they hold (WEB_GRACEFUL_TIMEOUT seconds at most), and
start a new worker process when one dies. The launcher `exec`s the server: signals reach it directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

SERVERS = ("granian", "gunicorn")
DEFAULT_SERVER = "granian"
APP = "seckill_site.wsgi:application"
GRANIAN_LOGGING = Path(__file__).with_name("granian_logging.json")


def web_command(environ: Mapping[str, str]) -> list[str]:
    """The server's command line for the given environment. Raises ValueError for an unknown WEB_SERVER."""
    server = environ.get("WEB_SERVER", "") or DEFAULT_SERVER
    bind = environ.get("WEB_BIND", "") or "127.0.0.1:8000"
    workers = environ.get("WEB_WORKERS", "") or "2"
    threads = environ.get("WEB_THREADS", "") or "32"
    backlog = environ.get("WEB_BACKLOG", "") or "2048"  # a burst opens thousands of connections at once
    graceful = environ.get("WEB_GRACEFUL_TIMEOUT", "") or "30"
    access_log = (environ.get("WEB_ACCESS_LOG", "") or "1") != "0"
    python = sys.executable
    if server == "granian":
        host, _, port = bind.rpartition(":")
        return [
            python,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host or "127.0.0.1",
            "--port",
            port,
            "--workers",
            workers,
            "--blocking-threads",
            threads,
            "--backlog",
            backlog,
            "--workers-kill-timeout",
            graceful,
            "--respawn-failed-workers",
            "--no-ws",  # (WSGI has none; says so at start otherwise)
            "--log-level",
            (environ.get("LOG_LEVEL", "") or "INFO").lower(),
            "--access-log" if access_log else "--no-access-log",
            "--log-config",  # Granian's own, with the access log written off the request threads
            str(GRANIAN_LOGGING),
            APP,
        ]
    if server == "gunicorn":
        return [
            python,
            "-m",
            "gunicorn",
            APP,
            "--bind",
            bind,
            "--worker-class",
            "gthread",
            "--workers",
            workers,
            "--threads",
            threads,
            "--keep-alive",
            "5",
            "--backlog",
            backlog,
            "--graceful-timeout",
            graceful,
            *(["--access-logfile", "-"] if access_log else []),
        ]
    raise ValueError(f"WEB_SERVER={server!r}: expected one of {', '.join(SERVERS)}")


def main() -> None:
    try:
        command = web_command(os.environ)
    except ValueError as error:
        sys.exit(str(error))
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
