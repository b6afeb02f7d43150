"""Settings read a .env file themselves, so every process started from this tree sees the same values."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_seen(dotenv: Path, **exported) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKILL_", "DJANGO_"))}
    env.update(exported, SECKILL_DOTENV=str(dotenv), DJANGO_SETTINGS_MODULE="seckill_site.settings")
    code = "from django.conf import settings as s; print(s.SECKILL_RESULT_TIMEOUT); print(s.SECKILL_ALLOWED_ORIGINS)"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
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
