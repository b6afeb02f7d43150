import ipaddress

import pytest
from django.test import override_settings

from seckill.access.guards import client_ip, origin_check, rate_limit_subject
from seckill.errors import ForbiddenOrigin
from seckill_site.rates import parse_rate_rules


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


PROXY = ("10.0.0.0/8",)


@pytest.mark.parametrize(
    "proxies, meta, expected",
    [
        ((), {"REMOTE_ADDR": "1.2.3.4", "HTTP_X_FORWARDED_FOR": "9.9.9.9"}, "1.2.3.4"),  # header ignored by default
        (PROXY, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "9.9.9.9, 5.6.7.8"}, "5.6.7.8"),  # the proxy's hop
        (PROXY, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "9.9.9.9, 5.6.7.8, 10.0.0.2"}, "5.6.7.8"),
        (PROXY, {"REMOTE_ADDR": "5.5.5.5", "HTTP_X_FORWARDED_FOR": "9.9.9.9"}, "5.5.5.5"),  # not via the proxy: spoof
        (PROXY, {"REMOTE_ADDR": "10.0.0.1"}, "10.0.0.1"),  # no header: the peer
        (PROXY, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "10.0.0.1"),
        ((), {"REMOTE_ADDR": "::ffff:10.20.30.40"}, "10.20.30.40"),  # IPv4 through an IPv6 socket
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(proxies, meta, expected):
    with override_settings(SECKILL_TRUSTED_PROXIES=tuple(ipaddress.ip_network(p) for p in proxies)):
        assert client_ip(meta) == expected


def test_ipv6_addresses_are_rate_limited_per_64_block():
    assert (
        rate_limit_subject("2001:db8:1:2:aaaa::1") == rate_limit_subject("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    )
    assert rate_limit_subject("1.2.3.4") == "1.2.3.4"


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
