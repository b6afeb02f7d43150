"""Settings read a .env file themselves, so every process started from this tree sees the same values."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


STRONG = secrets.token_urlsafe(50)


def start(dotenv: Path, **exported) -> subprocess.CompletedProcess:
    """`manage.py shell` printing two settings, with only `exported` and the file's values to go by."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKILL_", "DJANGO_"))}
    env.update(exported, SECKILL_DOTENV=str(dotenv), DJANGO_SETTINGS_MODULE="seckill_site.settings")
    code = "from django.conf import settings as s; print(s.SECKILL_RESULT_TIMEOUT); print(s.SECKILL_ALLOWED_ORIGINS)"
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def settings_seen(dotenv: Path, **exported) -> list[str]:
    out = start(dotenv, **{"DJANGO_SECRET_KEY": STRONG, **exported})
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_manage_py_reads_the_dotenv_and_exported_values_win(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# a comment line\nSECKILL_RESULT_TIMEOUT=7\nSECKILL_ALLOWED_ORIGINS=shop.example\n")
    assert settings_seen(dotenv) == ["7.0", "frozenset({'shop.example'})"]
    assert settings_seen(dotenv, SECKILL_RESULT_TIMEOUT="2")[0] == "2.0"


def test_a_value_is_taken_as_written(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("SECKILL_ALLOWED_ORIGINS=a#b\n")  # never cut at '#'
    assert settings_seen(dotenv)[1] == "frozenset({'a#b'})"


def test_the_example_file_gives_working_values(tmp_path):
    assert settings_seen(ROOT / ".env.example")[0] == "3.0"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "change-me",
        "django-insecure-local-development-key-change-me",
        "short-but-random-Zq8",
        "a" * 60,
        "django-insecure-" + "x1y2z3w4" * 8,
    ],
)
def test_nothing_starts_without_a_strong_secret_key(tmp_path, key):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DJANGO_SECRET_KEY={key}\n")
    out = start(dotenv)
    assert out.returncode != 0 and "DJANGO_SECRET_KEY must be a random value" in out.stderr


def test_the_example_file_ships_no_usable_key():
    out = start(ROOT / ".env.example")
    assert out.returncode != 0 and "DJANGO_SECRET_KEY" in out.stderr
    assert start(ROOT / ".env.example", DJANGO_SECRET_KEY=STRONG).returncode == 0


def test_manage_py_test_needs_no_key():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKILL_", "DJANGO_"))}
    out = subprocess.run(
        [sys.executable, "manage.py", "test", "tests/unit/test_purchase_tokens.py", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_production_settings_from_the_environment_pass_djangos_deploy_check(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKILL_", "DJANGO_"))}
    env.update(
        SECKILL_DOTENV="",
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        DJANGO_SECRET_KEY=STRONG,
        DJANGO_ALLOWED_HOSTS="shop.example.com",
    )
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    plain = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert plain.returncode != 0 and "SECURE_HSTS_SECONDS" in plain.stderr  # the check does look
    served = subprocess.run(command, cwd=ROOT, env=dict(env, DJANGO_HTTPS="1"), capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
