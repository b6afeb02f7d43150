"""simplejwt's tokens, checked with the signing key and then each of Django's SECRET_KEY_FALLBACKS.

simplejwt signs and checks with one key, so rotating DJANGO_SECRET_KEY would log every buyer out at once (and
refuse their purchases mid-sale). Django's own answer to rotation is SECRET_KEY_FALLBACKS (DJANGO_SECRET_KEY_FALLBACKS
here): keys that still verify, never sign. These token classes, through `FallbackTokenBackend`, verify with the
signing key first, then each fallback; new tokens are signed with the signing key only. The fast check of access
tokens (seckill_site.authentication) tries the same keys in the same order.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.settings import api_settings


def verifying_keys() -> tuple[str, ...]:
    """The keys a token may be signed with: simplejwt's signing key, then Django's SECRET_KEY_FALLBACKS."""
    return (api_settings.SIGNING_KEY, *settings.SECRET_KEY_FALLBACKS)


class FallbackTokenBackend(TokenBackend):
    """simplejwt's backend for the signing key; decoding also tries each fallback key when the signature fails."""

    def decode(self, token, verify: bool = True) -> dict:
        try:
            return super().decode(token, verify=verify)
        except TokenBackendExpiredToken:
            raise
        except TokenBackendError:
            if not verify or self.algorithm not in ("HS256", "HS384", "HS512"):
                raise
            for key in settings.SECRET_KEY_FALLBACKS:
                try:
                    return _backend(key).decode(token, verify=True)
                except TokenBackendExpiredToken:
                    raise
                except TokenBackendError:
                    continue
            raise


def _backend(key: str, backend_class: type[TokenBackend] = TokenBackend) -> TokenBackend:
    s = api_settings
    return backend_class(s.ALGORITHM, key, s.VERIFYING_KEY, s.AUDIENCE, s.ISSUER, s.JWK_URL, s.LEEWAY, s.JSON_ENCODER)


class _FallbackKeys:
    """A token class whose backend is FallbackTokenBackend, built from the settings as simplejwt builds its own."""

    @property
    def token_backend(self) -> TokenBackend:
        return _backend(api_settings.SIGNING_KEY, FallbackTokenBackend)


class AccessToken(_FallbackKeys, tokens.AccessToken):
    pass


class RefreshToken(_FallbackKeys, tokens.RefreshToken):
    access_token_class = AccessToken


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    token_class = RefreshToken


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    token_class = RefreshToken
    # A token is checked as sent: trimmed, "\x1d" would be a blank field (400) instead of an invalid token (401).
    refresh = serializers.CharField(trim_whitespace=False)
