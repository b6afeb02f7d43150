"""Tokens: simplejwt's views, with password logins throttled on failures (seckill.access.logins)."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import AuthenticationFailed, ParseError
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from seckill.access import guards
from seckill.access.logins import login_attempt
from seckill_site.openapi import error_responses


@extend_schema(
    responses={200: TokenObtainPairSerializer, **error_responses("invalid_request", "rate_limited", "unavailable")}
)
class TokenObtainApi(TokenObtainPairView):
    def post(self, request, *args, **kwargs):
        data = request.data  # (a body that is not JSON is a 400 here, before anything is counted)
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str):
            raise ParseError("username is required.")
        return login_attempt(
            username=username,
            ip=guards.client_ip(request.META),
            attempt=lambda: super(TokenObtainApi, self).post(request, *args, **kwargs),
            failures=(AuthenticationFailed, InvalidToken),
        )


@extend_schema(responses={200: TokenRefreshSerializer, **error_responses("invalid_request")})
class TokenRefreshApi(TokenRefreshView):
    """simplejwt's refresh, with its answers in the schema."""
