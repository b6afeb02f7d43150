"""Tokens: simplejwt's views, with password logins rate-limited per user name and client address."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ParseError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from seckill import guards
from seckill_site.openapi import error_responses


@extend_schema(responses={200: TokenObtainPairSerializer, **error_responses("invalid_request", "rate_limited")})
class TokenObtainApi(TokenObtainPairView):
    def post(self, request, *args, **kwargs):
        data = request.data  # (a body that is not JSON is a 400 here, before anything is counted)
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str):
            raise ParseError("username is required.")
        guards.login_rate_limit_check(username=username, ip=guards.client_ip(request.META))
        return super().post(request, *args, **kwargs)


@extend_schema(responses={200: TokenRefreshSerializer, **error_responses("invalid_request")})
class TokenRefreshApi(TokenRefreshView):
    """simplejwt's refresh, with its answers in the schema."""
