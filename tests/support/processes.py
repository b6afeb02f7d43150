"""The real processes the tests start (a `celery worker`, `celery beat`, the Procfile's web server) and what they
need: the test database's URL, the test Redis, a free port, the Procfile's command lines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from seckill_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
WORKER_CONCURRENCY = 2


def database_url_for_worker() -> str:
    """The URL of the test database that pytest-django created, for a process outside this one."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = f"{auth}@{s['HOST'] or '127.0.0.1'}" if auth else s["HOST"] or "127.0.0.1"
    return f"postgres://{host}:{s['PORT'] or 5432}/{s['NAME']}"


def process_env(**overrides) -> dict:
    """The environment of a process started by a test: the project's settings on the test database and Redis."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=database_url_for_worker(),
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


class WorkerProcess:
    def __init__(self, name: str, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, *, concurrency: int = WORKER_CONCURRENCY, extra_env: dict | None = None, wait=True) -> None:
        # No beat runs in most tests: a worker would stand in for it and sweep requests a test keeps pending on
        # purpose. The tests of that stand-in turn it on.
        env = process_env(**{"SECKILL_SWEEP_WITHOUT_BEAT": "0", **(extra_env or {})})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "seckill_site",
                "worker",  # no -Q: it consumes every declared queue, as a plain `celery worker` does
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "-l",
                "warning",
                "-n",
                self.name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool's children too
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, deadline_s: float = 60.0) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")
            if celery_app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer a ping within {deadline_s}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the worker and its children at once: a crash, with no chance to ack or give back."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def beat_start(env: dict, directory: Path, level: str = "warning") -> subprocess.Popen:
    """celery beat with the project's schedule, its schedule file and log in `directory`."""
    log = open(directory / "beat.log", "wb")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "seckill_site",
        "beat",
        "-l",
        level,
        "-s",
        str(directory / "beat-schedule"),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def procfile_command(process: str) -> str:
    """The Procfile's command line of `process` (web, worker, beat...)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))[process]


class WebServer:
    """The web server as the Procfile starts it (its `web` line: seckill_site/web_server.py, WEB_SERVER's server,
    Granian by default), one process of four threads on a free port of `host`, answering when `start` returns."""

    def __init__(self, log_dir: Path, host: str = "127.0.0.1", **env_overrides):
        port = free_port(host)
        env = process_env(
            WEB_BIND=f"{host}:{port}",
            WEB_WORKERS="1",
            WEB_THREADS="4",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the Procfile's python
        )
        if "LOG_LEVEL" in os.environ:  # else the server's own default level, as users run it
            env["LOG_LEVEL"] = os.environ["LOG_LEVEL"]
        else:
            del env["LOG_LEVEL"]
        env.update(env_overrides)
        self.base = f"http://{host}:{port}"
        self.log_path = log_dir / f"web-{port}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command('web')}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, deadline_s: float = 30.0) -> str:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                urllib.request.urlopen(f"{self.base}/api/time/", timeout=1)
                return self.base
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("web process did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=40)
