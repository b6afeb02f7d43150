"""Test settings: the project's settings, pointed at the test Redis database.

Tests use the Redis at REDIS_URL (default redis://127.0.0.1:6379) when one answers, else an embedded one,
always on their own database number TEST_REDIS_DB (default 15), which the tests clean up after themselves.
"""

import os
import secrets

from seckill_site.local_redis import ensure_redis, redis_answers, with_db

_base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
if not redis_answers(_base):
    _base = os.environ.get("TEST_EMBEDDED_REDIS_URL", "redis://127.0.0.1:6399/0")
    ensure_redis(_base)
os.environ["REDIS_URL"] = with_db(_base, int(os.environ.get("TEST_REDIS_DB", "15")))
os.environ["SECKILL_DOTENV"] = ""  # a developer's .env must not reach the tests (nor the workers they start)
# A key of the test run's own, for this process and the workers and web servers the tests start.
os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.pop("CELERY_RESULT_BACKEND", None)
os.environ.pop("SECKILL_GATE_URL", None)  # the gate on the test database too (a test may move it to a cluster)
os.environ.pop("SECKILL_GATE_CLUSTER", None)

from seckill_site.settings import *  # noqa: E402,F401,F403

# Hashing passwords at full strength only slows the tests down.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
