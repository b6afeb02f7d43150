from django.urls import path

from seckill import product_apis

urlpatterns = [
    path("", product_apis.ProductListApi.as_view(), name="product-list"),
    path("<int:product_id>/", product_apis.ProductDetailApi.as_view(), name="product-detail"),
]
