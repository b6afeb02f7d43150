"""Celery's configuration as a plain dict, read once from the CELERY_* Django settings.

Celery reads its settings on every publish; through `config_from_object("django.conf:settings", namespace="CELERY")`
each read went through Django's lazy settings and Celery's key-prefix search, a large share of a publish's CPU
(measured: docs/benchmark-log.md, "History", first round). The values are the same; only the lookup is cheaper. Loaded
lazily, when Celery first needs its configuration (by then Django's settings are configured).
"""

from django.conf import settings

PREFIX = "CELERY_"

CONFIG = {name[len(PREFIX) :].lower(): getattr(settings, name) for name in dir(settings) if name.startswith(PREFIX)}
# The Django fixup asks for this one by its old upper-case name.
CONFIG["CELERY_DB_REUSE_MAX"] = getattr(settings, "CELERY_DB_REUSE_MAX", None)
