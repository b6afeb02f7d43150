from django.apps import AppConfig


class SeckillConfig(AppConfig):
    name = "seckill"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from seckill.access import signals
        from seckill.ops import heartbeat, metrics

        signals.connect()
        heartbeat.connect()  # (these two fire in a Celery worker only)
        metrics.connect()
