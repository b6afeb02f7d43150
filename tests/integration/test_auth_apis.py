"""POST /api/auth/token/: password logins are rate-limited per user name and per client address."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/auth/token/"


def login(username, password, ip="198.51.100.7"):
    return APIClient().post(URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


def test_guessing_a_password_is_refused_with_429_after_the_limit(clean_redis, settings):
    settings.SECKILL_LOGIN_USER_RATE_RULES = [(3, 60)]
    settings.SECKILL_LOGIN_IP_RATE_RULES = [(100, 60)]
    get_user_model().objects.create_user("victim", password="the-right-password")
    answers = [login("victim", f"guess-{i}").status_code for i in range(3)]
    assert answers == [401, 401, 401]
    refused = login("Victim", "the-right-password", ip="203.0.113.9")  # another address, the name in capitals
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert login("someone-else", "x").status_code == 401  # other names are not held back


def test_one_address_trying_many_names_is_limited(clean_redis, settings):
    settings.SECKILL_LOGIN_USER_RATE_RULES = [(100, 60)]
    settings.SECKILL_LOGIN_IP_RATE_RULES = [(5, 60)]
    answers = [login(f"name-{i}", "x").status_code for i in range(6)]
    assert answers == [401] * 5 + [429]
    assert login("name-0", "x", ip="192.0.2.44").status_code == 401


def test_a_right_password_within_the_limit_gets_tokens(clean_redis):
    get_user_model().objects.create_user("buyer", password="the-right-password")
    response = login("buyer", "the-right-password")
    assert response.status_code == 200 and {"access", "refresh"} <= set(response.json())


def test_a_body_without_a_user_name_is_a_400(clean_redis):
    response = APIClient().post(URL, {"password": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
