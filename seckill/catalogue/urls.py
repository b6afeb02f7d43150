from django.urls import path

from seckill.catalogue import api

urlpatterns = [
    path("", api.ProductListApi.as_view(), name="product-list"),
    # ProductDetailApi, after the page a GET gets from this process' copy, before DRF (api.product_page_view)
    path("<int:product_id>/", api.product_page_view(), name="product-detail"),
]
