from django.urls import path

from products import apis

urlpatterns = [
    path("", apis.ProductListApi.as_view(), name="product-list"),
    path("<int:product_id>/", apis.ProductDetailApi.as_view(), name="product-detail"),
]
