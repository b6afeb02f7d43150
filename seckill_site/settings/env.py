"""The environment, read once: a `.env` file (exported variables win), and helpers to read a variable."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

_dotenv = os.environ.get("SECKILL_DOTENV", str(BASE_DIR / ".env"))
if _dotenv and Path(_dotenv).is_file():
    # https://django-environ.readthedocs.io/en/latest/api.html#environ.Env.read_env
    environ.Env.read_env(_dotenv)


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]
