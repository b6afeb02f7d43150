"""What makes a SECRET_KEY strong enough to sign this service's tokens (no Django imports: settings use it)."""

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
