"""A draw's endpoints, under /api/ (seckill_site/urls.py)."""

from django.urls import path

from seckill.draws.api import DrawEntriesApi, DrawRecordApi, EntryDetailApi

urlpatterns = [
    path("seckill/<int:product_id>/entry/", EntryDetailApi.as_view(), name="seckill-entry-detail"),
    path("products/<int:product_id>/draw/", DrawRecordApi.as_view(), name="draw-record"),
    path("products/<int:product_id>/draw/entries/", DrawEntriesApi.as_view(), name="draw-entries"),
]
