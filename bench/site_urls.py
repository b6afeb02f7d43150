"""The project's URLs, and the benchmark's comparators under /bench/ (bench/urls.py)."""

from django.urls import include, path

from seckill_site.urls import handler400, handler404, handler500  # noqa: F401
from seckill_site.urls import urlpatterns as site_urlpatterns

urlpatterns = [*site_urlpatterns, path("bench/", include("bench.urls"))]
