from django.urls import path

from seckill import product_apis
from seckill.before_drf import product_page_view

urlpatterns = [
    path("", product_apis.ProductListApi.as_view(), name="product-list"),
    # ProductDetailApi, after the page a GET gets from this process' copy (seckill/before_drf.py)
    path("<int:product_id>/", product_page_view(), name="product-detail"),
]
