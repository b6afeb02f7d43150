"""Rotating DJANGO_SECRET_KEY (docs/deploy.md): with the former key in DJANGO_SECRET_KEY_FALLBACKS, the web server
still accepts what it signed (access and refresh tokens, purchase tokens), and refuses it once the fallback is
removed. A real web process, as the Procfile starts it."""

import os
import secrets
import subprocess
import sys
import time
import uuid

import pytest
from rest_framework_simplejwt.backends import TokenBackend

from seckill.access import purchase_tokens
from tests.support.http import http
from tests.support.processes import ROOT

pytestmark = pytest.mark.slow

OLD, NEW = secrets.token_urlsafe(50), secrets.token_urlsafe(50)


def signed_with(key: str, user_id: int, token_type: str = "access", lifetime: int = 600) -> str:
    now = int(time.time())
    claims = {"token_type": token_type, "exp": now + lifetime, "iat": now, "jti": uuid.uuid4().hex}
    return TokenBackend("HS256", key).encode({**claims, "user_id": str(user_id)})


def test_tokens_of_the_former_key_pass_while_it_is_a_fallback(web, make_buyers, settings):
    (buyer,) = make_buyers(1)
    access, refresh = signed_with(OLD, buyer.pk), signed_with(OLD, buyer.pk, "refresh", 3600)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    purchase_token = purchase_tokens.purchase_token_make(order_id=5, user_id=buyer.pk, product_id=1)

    rotated = web(DJANGO_SECRET_KEY=NEW, DJANGO_SECRET_KEY_FALLBACKS=OLD)
    assert http("GET", f"{rotated}/api/orders/", token=access)[0] == 200
    status, body = http("POST", f"{rotated}/api/auth/token/refresh/", {"refresh": refresh})
    assert status == 200
    fresh = body["access"]
    assert TokenBackend("HS256", NEW).decode(fresh)["user_id"] == str(buyer.pk)  # new tokens: the new key

    done = web(DJANGO_SECRET_KEY=NEW)  # the fallback removed once the old tokens have expired
    status, body = http("GET", f"{done}/api/orders/", token=access)
    assert (status, body["code"]) == (401, "authentication_failed")
    assert http("GET", f"{done}/api/orders/", token=fresh)[0] == 200

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]  # purchase tokens: Django's signing
    assert purchase_tokens.purchase_token_verify(purchase_token).order_id == 5


def test_a_weak_fallback_key_stops_the_start():
    env = dict(os.environ, DJANGO_SECRET_KEY=NEW, DJANGO_SECRET_KEY_FALLBACKS="change-me", SECKILL_DOTENV="")
    env["DJANGO_SETTINGS_MODULE"] = "seckill_site.settings"
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "DJANGO_SECRET_KEY_FALLBACKS" in out.stderr
