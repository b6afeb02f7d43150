"""What makes a SECRET_KEY strong enough to sign this service's tokens, and the run command's writing of one into
.env (no Django imports: settings and the run command use it)."""

import os
from collections.abc import Callable
from pathlib import Path

# Values that have shipped in examples and tutorials, this project's included: never a secret.
KNOWN_WEAK = frozenset({"change-me", "changeme", "secret", "django-insecure-local-development-key-change-me"})


def secret_key_is_strong(key: str) -> bool:
    """Django's own test of a deployment's key (check --deploy, security.W009: at least 50 characters, 5 of them
    different, not a generated insecure one), and none of the values known from examples."""
    return (
        len(key) >= 50
        and len(set(key)) >= 5
        and not key.startswith("django-insecure-")
        and key.strip().lower() not in KNOWN_WEAK
    )


DOTENV_NOTE = "# written by the run command: signs tokens (keep it secret)\n"


def dotenv_ensure_secret_key(dotenv: Path, make_key: Callable[[], str]) -> bool:
    """Give the .env file at `dotenv` a DJANGO_SECRET_KEY if it has none: a new file (mode 600) holding just the
    key, or, in a file copied from .env.example, its empty `DJANGO_SECRET_KEY=` line filled in (an empty value is
    no key), else the key appended on a line of its own. Returns True if it wrote a key."""
    line = f"DJANGO_SECRET_KEY={make_key()}\n"
    if not dotenv.exists():
        with os.fdopen(os.open(dotenv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(DOTENV_NOTE + line)
        return True
    lines = dotenv.read_text().splitlines(keepends=True)
    for i, existing in enumerate(lines):
        name, sep, value = existing.partition("=")
        if sep and name.strip() == "DJANGO_SECRET_KEY":
            if value.strip().strip("'\"").strip():
                return False  # a key is set (whether it is strong, the settings decide)
            lines[i : i + 1] = [DOTENV_NOTE, line]
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"  # never join the key to a last line without its newline
        lines += [DOTENV_NOTE, line]
    dotenv.write_text("".join(lines))
    os.chmod(dotenv, 0o600)  # it holds a secret now
    return True
