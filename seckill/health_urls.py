from django.urls import path

from seckill import health_apis

urlpatterns = [
    path("healthz", health_apis.healthz, name="healthz"),
    path("readyz", health_apis.readyz, name="readyz"),
    path("metrics", health_apis.metrics_view, name="metrics"),
]
