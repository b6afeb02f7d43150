from django.urls import path

from seckill.access import token_api

urlpatterns = [
    path("auth/token/", token_api.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", token_api.TokenRefreshApi.as_view(), name="token-refresh"),
]
