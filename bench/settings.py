"""The benchmark's settings (bench/run.py runs every process with DJANGO_SETTINGS_MODULE=bench.settings): the
project's own, plus the comparators' endpoints under /bench/ (bench/site_urls.py) and their task (bench/tasks.py).
Never in production: the base settings and URLs know nothing of them."""

from seckill_site.settings import *  # noqa: F401,F403
from seckill_site.settings import CELERY_IMPORTS

ROOT_URLCONF = "bench.site_urls"
CELERY_IMPORTS = [*CELERY_IMPORTS, "bench.tasks"]
