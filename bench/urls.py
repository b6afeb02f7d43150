from django.urls import path

from bench import views

urlpatterns = [
    path("naive/buy/", views.NaiveBuyApi.as_view(), name="bench-naive-buy"),
    path("noop/", views.NoopRoundTripApi.as_view(), name="bench-noop"),
]
