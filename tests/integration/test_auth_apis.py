"""Password logins, POST /api/auth/token/ and the admin's login page alike: failed logins are limited per (user name,
address) and per address; a user name alone is only slowed down, so nobody locks a chosen buyer out by guessing
with their name from many addresses; made-up names leave no key that outlives a minute."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from seckill.access import logins

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/auth/token/"
RIGHT = "the-right-password"


def login(username, password, ip="198.51.100.7"):
    return APIClient().post(URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


def admin_login(username, password, ip="198.51.100.7"):
    client = Client(REMOTE_ADDR=ip)
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


@pytest.fixture
def limits(settings):
    settings.SECKILL_LOGIN_USER_RATE_RULES = [(3, 60), (10, 3600)]
    settings.SECKILL_LOGIN_IP_RATE_RULES = [(100, 60)]
    settings.SECKILL_LOGIN_SLOW_AFTER = 5
    settings.SECKILL_LOGIN_SLOWDOWN = 0.5
    return settings


@pytest.fixture
def slowdowns(monkeypatch):
    """The waits the throttle makes (recorded, not slept: the test is about when it waits, not the clock)."""
    waits = []
    monkeypatch.setattr(logins.time, "sleep", waits.append)
    return waits


def test_guessing_from_one_address_is_refused_there_and_nowhere_else(clean_redis, limits, slowdowns):
    get_user_model().objects.create_user("victim", password=RIGHT, is_staff=True)
    assert [login("victim", f"guess-{i}").status_code for i in range(3)] == [401, 401, 401]
    refused = login("Victim", RIGHT)  # the same address (the name in capitals is the same name): refused
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert login("victim", RIGHT, ip="203.0.113.9").status_code == 200  # the buyer, elsewhere: not locked out
    assert admin_login("victim", RIGHT, ip="192.0.2.50").status_code == 302  # the admin's page counts the same
    assert admin_login("victim", RIGHT).status_code == 429


def test_a_name_guessed_from_many_addresses_is_slowed_down_never_locked_out(clean_redis, limits, slowdowns):
    get_user_model().objects.create_user("target", password=RIGHT)
    for i in range(8):  # each address stays under its own limits; the name collects failures from all of them
        assert login("target", "wrong", ip=f"203.0.113.{i + 1}").status_code == 401
    assert slowdowns == [0.5] * 3  # after 5 failures of the name, every try at it waits first
    assert login("target", RIGHT, ip="198.51.100.200").status_code == 200  # slowed, but let in
    assert slowdowns == [0.5] * 4
    assert login("someone-else", "x", ip="203.0.113.1").status_code == 401 and len(slowdowns) == 4


def test_one_address_trying_many_names_is_limited(clean_redis, limits, slowdowns):
    limits.SECKILL_LOGIN_IP_RATE_RULES = [(5, 60)]
    assert [login(f"name-{i}", "x").status_code for i in range(6)] == [401] * 5 + [429]
    assert admin_login("name-9", "x").status_code == 429
    assert login("name-0", "x", ip="192.0.2.44").status_code == 401


def test_only_failures_count(clean_redis, limits, slowdowns):
    get_user_model().objects.create_user("buyer", password=RIGHT)
    assert all(login("buyer", RIGHT).status_code == 200 for _ in range(6))  # over 3/m, all right


def test_made_up_names_leave_no_key_that_outlives_a_minute(clean_redis, limits, slowdowns):
    get_user_model().objects.create_user("real", password=RIGHT)
    login("nobody-by-this-name", "x")
    ttls = {key: clean_redis.ttl(key) for key in clean_redis.scan_iter("seckill:rl:{login-*")}
    assert ttls and all(0 < ttl <= 60 for ttl in ttls.values()), ttls
    login("real", "x")  # an account's name keeps its longer window
    assert any(ttl > 60 for ttl in (clean_redis.ttl(k) for k in clean_redis.scan_iter("seckill:rl:{login-pair:real*")))


def test_a_right_password_within_the_limit_gets_tokens(clean_redis):
    get_user_model().objects.create_user("buyer", password=RIGHT)
    response = login("buyer", RIGHT)
    assert response.status_code == 200 and {"access", "refresh"} <= set(response.json())


def test_a_body_without_a_user_name_is_a_400(clean_redis):
    response = APIClient().post(URL, {"password": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_parallel_guesses_cannot_slip_past_the_limit(clean_redis, limits, slowdowns):
    """Each try is counted before its password is checked, in one step: of 12 guesses at once from one address,
    only the pair's 3 reach the password check."""
    import threading

    from django.db import connections

    get_user_model().objects.create_user("victim", password=RIGHT)
    codes, barrier = [], threading.Barrier(12)

    def guess(i):
        try:
            barrier.wait(10)
            codes.append(login("victim", f"guess-{i}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [401] * 3 + [429] * 9


def test_with_redis_unable_to_count_the_api_refuses_and_the_admin_lets_the_operator_in(
    clean_redis, limits, slowdowns, monkeypatch
):
    import redis

    from seckill.gate import access_state as store

    get_user_model().objects.create_user("operator", password=RIGHT, is_staff=True)

    def full(rules):
        raise redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")

    monkeypatch.setattr(store, "rate_limit_hit", full)
    response = login("operator", "a-guess")
    assert (response.status_code, response.json()["code"]) == (503, "unavailable")  # no guess goes uncounted
    assert admin_login("operator", RIGHT).status_code == 302  # the admin is where an outage is looked into
