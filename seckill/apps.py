from django.apps import AppConfig


class SeckillConfig(AppConfig):
    name = "seckill"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from seckill import heartbeat, metrics, signals

        signals.connect()
        heartbeat.connect()  # (these two fire in a Celery worker only)
        metrics.connect()
