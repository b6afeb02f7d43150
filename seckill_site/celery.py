import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")

app = Celery("seckill_site")
# Every Celery setting lives in Django settings as CELERY_<NAME>.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
