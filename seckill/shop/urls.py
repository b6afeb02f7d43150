from django.urls import path

from seckill.shop import views

urlpatterns = [
    path("shop/", views.shop_index, name="shop-index"),
    path("shop/<int:product_id>/", views.shop_product, name="shop-product"),
]
