from django.apps import AppConfig


class SeckillConfig(AppConfig):
    name = "seckill"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from seckill.access import signals
        from seckill.ops import heartbeat, metrics
        from seckill.worker import outcome_record
        from seckill_site.integrations import celery_result_store

        signals.connect()
        heartbeat.connect()  # (these two fire in a Celery worker only)
        metrics.connect()
        # A purchase's success is stored with its outcome record by the result backend (when it is the project's).
        celery_result_store.register(outcome_record.PURCHASE_TASK, outcome_record.OutcomeRecorder())
