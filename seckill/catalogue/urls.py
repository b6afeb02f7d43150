from django.urls import path

from seckill.catalogue import api as catalogue_api
from seckill.purchases.early_answers import product_page_view

urlpatterns = [
    path("", catalogue_api.ProductListApi.as_view(), name="product-list"),
    # ProductDetailApi, after the page a GET gets from this process' copy (seckill/purchases/early_answers.py)
    path("<int:product_id>/", product_page_view(), name="product-detail"),
]
