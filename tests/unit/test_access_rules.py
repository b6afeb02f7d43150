import pytest
from django.test import override_settings

from seckill.access import client_ip, origin_check
from seckill.errors import ForbiddenOrigin
from seckill.rates import parse_rate_rules


@pytest.mark.parametrize(
    "text, rules",
    [("", []), ("5/s", [(5, 1)]), ("5/s,60/m", [(5, 1), (60, 60)]), (" 100 / 10s ", [(100, 10)]), ("3/h", [(3, 3600)])],
)
def test_rate_rules_parse(text, rules):
    assert parse_rate_rules(text) == rules


@pytest.mark.parametrize("text", ["5", "5/x", "a/s", "5/0s", "-1/s"])
def test_bad_rate_rules_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate_rules(text)


@pytest.mark.parametrize(
    "proxies, meta, expected",
    [
        (0, {"REMOTE_ADDR": "1.2.3.4", "HTTP_X_FORWARDED_FOR": "9.9.9.9"}, "1.2.3.4"),  # header ignored by default
        (1, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "9.9.9.9, 5.6.7.8"}, "5.6.7.8"),  # the proxy's hop
        (2, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "9.9.9.9, 5.6.7.8, 10.0.0.2"}, "5.6.7.8"),
        (1, {"REMOTE_ADDR": "10.0.0.1"}, "10.0.0.1"),  # no header: the peer
        (1, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "10.0.0.1"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_behind_known_proxies(proxies, meta, expected):
    with override_settings(SECKILL_TRUSTED_PROXIES=proxies):
        assert client_ip(meta) == expected


@pytest.mark.parametrize(
    "meta, allowed",
    [
        ({"HTTP_ORIGIN": "https://shop.example.com"}, True),
        ({"HTTP_ORIGIN": "https://SHOP.example.com:8443"}, True),
        ({"HTTP_REFERER": "https://shop.example.com/item/1"}, True),
        ({"HTTP_ORIGIN": "https://shop.example.com.evil.net"}, False),
        ({"HTTP_ORIGIN": "https://evil.net", "HTTP_REFERER": "https://shop.example.com/"}, False),
        ({}, False),
        ({"HTTP_ORIGIN": "http://[::1"}, False),
    ],
)
def test_origin_allow_list_is_matched_by_host(meta, allowed):
    with override_settings(SECKILL_ALLOWED_ORIGINS=frozenset({"shop.example.com"})):
        if allowed:
            origin_check(meta)
        else:
            with pytest.raises(ForbiddenOrigin):
                origin_check(meta)


def test_origin_allow_list_is_off_by_default():
    origin_check({"HTTP_ORIGIN": "https://anything.example"})
