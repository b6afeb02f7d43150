"""The run command's secret key in .env (seckill_site.secret_key.dotenv_ensure_secret_key): written once, into a
new file of mode 600 or the empty line of a copy of .env.example, never joined to another line."""

import stat
from pathlib import Path

from seckill_site.secret_key import dotenv_ensure_secret_key, secret_key_is_strong

ROOT = Path(__file__).resolve().parents[2]
KEY = "k3y-" + "Zx9Qw2" * 10


def keys_in(dotenv: Path) -> list[str]:
    return [line.split("=", 1)[1] for line in dotenv.read_text().splitlines() if line.startswith("DJANGO_SECRET_KEY=")]


def test_a_new_file_holds_the_key_and_only_its_owner_reads_it(tmp_path):
    dotenv = tmp_path / ".env"
    assert dotenv_ensure_secret_key(dotenv, lambda: KEY)
    assert keys_in(dotenv) == [KEY]
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert not dotenv_ensure_secret_key(dotenv, lambda: "another")  # once
    assert keys_in(dotenv) == [KEY]


def test_a_copy_of_the_example_gets_its_empty_key_line_filled_in(tmp_path):
    dotenv = tmp_path / ".env"
    example = (ROOT / ".env.example").read_text()
    assert "\nDJANGO_SECRET_KEY=\n" in example
    dotenv.write_text(example)
    assert dotenv_ensure_secret_key(dotenv, lambda: KEY)
    assert keys_in(dotenv) == [KEY]  # in place: the empty line is gone, no second one
    assert dotenv.read_text().replace(f"DJANGO_SECRET_KEY={KEY}", "DJANGO_SECRET_KEY=").endswith(example[-200:])
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600


def test_an_empty_or_quoted_empty_value_is_no_key(tmp_path):
    for empty in ("DJANGO_SECRET_KEY=", 'DJANGO_SECRET_KEY=""', "DJANGO_SECRET_KEY = ''  "):
        dotenv = tmp_path / ".env"
        dotenv.write_text(f"LOG_LEVEL=INFO\n{empty}\n")
        assert dotenv_ensure_secret_key(dotenv, lambda: KEY)
        assert keys_in(dotenv) == [KEY]


def test_the_key_is_never_joined_to_a_last_line_without_its_newline(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("LOG_LEVEL=INFO")  # no newline at the end
    assert dotenv_ensure_secret_key(dotenv, lambda: KEY)
    lines = dotenv.read_text().splitlines()
    assert lines[0] == "LOG_LEVEL=INFO" and keys_in(dotenv) == [KEY]


def test_a_set_key_is_left_alone(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DJANGO_SECRET_KEY={KEY}\n")
    assert not dotenv_ensure_secret_key(dotenv, lambda: "another")
    assert keys_in(dotenv) == [KEY] and secret_key_is_strong(KEY)
