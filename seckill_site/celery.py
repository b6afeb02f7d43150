import os

from celery import Celery, signals

from seckill_site.integrations import (
    billiard_exit_wait,
    celery_result_store,
    celery_result_wait,
    kombu_redis_client,
    kombu_sentinel_close,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")

app = Celery("seckill_site")


@app.on_after_configure.connect
def _library_patches(sender, **kwargs):
    """The library patches of the Celery client (seckill_site/integrations/: each off, with one warning, on versions
    it was not tested with, or with SECKILL_LIBRARY_PATCHES=0), applied once the configuration is read (the Django
    settings are then ready), before Celery makes its broker connection and its result backend."""
    celery_result_wait.apply()
    kombu_redis_client.apply()
    kombu_sentinel_close.apply()
    # Redis result backends that hand a task's success to the recorder its app registered (a purchase's outcome
    # stored with its result).
    sender.loader.override_backends = celery_result_store.backends()


# Every Celery setting lives in Django settings as CELERY_<NAME>; celery_config reads them once into a dict.
app.config_from_object("seckill_site.celery_config:CONFIG")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections_as_per_request(**kwargs):
    """Treat each task like a web request: keep the database connection for CONN_MAX_AGE, drop a broken one.

    Celery's Django fixup otherwise closes the connection before and after every task (CELERY_DB_REUSE_MAX
    unset), so each purchase opened a new one, about a tenth of a task's time. With CELERY_DB_REUSE_MAX set,
    the fixup closes only every so many tasks, and this handler does what Django does around each request:
    close a connection that has errors or outlived CONN_MAX_AGE, so that a database restart heals at the next
    task. Not for a task run eagerly (in the caller's process, perhaps inside its transaction), as the fixup."""
    from django.db import close_old_connections

    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()


@signals.worker_init.connect
def _bound_pool_process_exit_wait(**kwargs):
    billiard_exit_wait.apply()
