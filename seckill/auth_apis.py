"""Tokens: simplejwt's views, with password logins rate-limited per user name and client address."""

from rest_framework.exceptions import ParseError
from rest_framework_simplejwt.views import TokenObtainPairView

from seckill import guards


class TokenObtainApi(TokenObtainPairView):
    def post(self, request, *args, **kwargs):
        data = request.data  # (a body that is not JSON is a 400 here, before anything is counted)
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str):
            raise ParseError("username is required.")
        guards.login_rate_limit_check(username=username, ip=guards.client_ip(request.META))
        return super().post(request, *args, **kwargs)
