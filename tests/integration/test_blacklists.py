"""User and address blacklists through the HTTP API: the database's entries, their Redis mirror, the admin and the
command, against the real Redis and worker."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from seckill.access import blacklist
from seckill.gate import access_state as guard_store
from seckill.gate import keys
from seckill.gate.client import get_client
from seckill.models import BlacklistEntry
from seckill.worker import sweep
from seckill_site.celery import app as celery_app
from tests.support.access import refused_as
from tests.support.http import api_client
from tests.support.polling import wait_for

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"


def test_blacklisted_user_gets_403_within_a_second_and_removal_restores(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)

    call_command("blacklist", "add", "user", str(user.pk), "--reason", "bot")
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    response = client.post(BUY, {"product_id": product.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "blacklisted")
    call_command("blacklist", "remove", "user", str(user.pk))
    assert wait_for(lambda: refused_as(user.pk) is None, 1)
    assert client.post(BUY, {"product_id": product.pk}, format="json").status_code == 200


def test_blacklisted_address_range_gets_403(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)
    call_command("blacklist", "add", "ip", "10.0.0.0/8", "--ttl", "600")
    assert wait_for(lambda: refused_as(user.pk, "10.20.30.40") == "blacklisted", 1)
    blocked = client.post(BUY, {"product_id": product.pk}, format="json", REMOTE_ADDR="10.20.30.40")
    assert (blocked.status_code, blocked.json()["code"]) == (403, "blacklisted")
    other_address = client.post(BUY, {"product_id": product.pk}, format="json", REMOTE_ADDR="11.0.0.1")
    assert other_address.status_code == 200


def test_blacklist_survives_redis_losing_it(worker, make_buyers):
    (user,) = make_buyers(1)
    call_command("blacklist", "add", "user", str(user.pk))
    get_client().delete(keys.BLACKLIST_VERSION, keys.blacklist("user"))
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 2)  # rebuilt from the database


def test_blacklist_command_refuses_bad_values(worker):
    from django.core.management.base import CommandError

    for args in (["add", "ip", "300.1.1.1"], ["add", "user", "abc"], ["add", "user"], ["remove", "ip", "1.2.3.4"]):
        with pytest.raises(CommandError):
            call_command("blacklist", *args)
    assert not BlacklistEntry.objects.exists()


def test_token_of_a_deactivated_or_deleted_user_gets_403_before_the_broker(worker, make_buyers, make_product):
    inactive, deleted = make_buyers(2)
    product = make_product(stock_total=5)
    tokens = {u.pk: api_client(u) for u in (inactive, deleted)}
    inactive.is_active = False
    inactive.save()
    get_user_model().objects.filter(pk=deleted.pk).delete()  # queryset delete sends post_delete too

    assert wait_for(
        lambda: refused_as(inactive.pk) == refused_as(deleted.pk) == "user_inactive", 1
    )  # within a second, this process
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    for client in tokens.values():
        response = client.post(BUY, {"product_id": product.pk}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "user_inactive")
    assert sweep.purchase_queue_length() == 0


def test_a_deleted_user_stays_refused_after_beat_rebuilds_the_blacklist_mirror(
    transactional_db, clean_redis, make_buyers
):
    deleted, other = make_buyers(2)
    get_user_model().objects.filter(pk=deleted.pk).delete()
    other.is_active = False
    other.save()
    blacklist.blacklist_reconcile()  # the digest of the database differs from a change's version: a rebuild
    blacklist._snapshot = blacklist._Snapshot()  # (this process looks again at once)
    assert refused_as(deleted.pk) == refused_as(other.pk) == "user_inactive"
    assert not blacklist.blacklist_reconcile()  # and the rebuilt mirror is what the database says


def test_a_temporary_ban_never_shortens_a_permanent_entry(worker, make_buyers):
    (user,) = make_buyers(1)
    call_command("blacklist", "add", "user", str(user.pk))
    lapses_ms = int(time.time() * 1000) + 200
    guard_store.ban_set(kind="user", value=str(user.pk), expires_ms=lapses_ms)
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    # The clock past the ban's lapse (injected: nothing is waited for), the permanent entry still stands.
    assert refused_as(user.pk, now_ms=lapses_ms + 1) == "blacklisted"
    users, _, _ = guard_store.blacklist_read(now_ms=lapses_ms + 1)
    assert users[str(user.pk)] == 0


def test_reconcile_repairs_a_mirror_that_missed_a_change_or_came_back_stale(worker, make_buyers):
    alice, bob = make_buyers(2)
    call_command("blacklist", "add", "user", str(alice.pk))
    blacklist.blacklist_reconcile()
    version = guard_store.blacklist_version()[0]
    # A Redis restored from an older snapshot: Alice's entry gone, the version as it was.
    get_client().hdel(keys.blacklist("user"), alice.pk)
    # A change whose publication failed: Bob in the database only.
    BlacklistEntry.objects.create(kind="user", value=str(bob.pk))
    get_client().set(keys.BLACKLIST_VERSION, version)

    assert blacklist.blacklist_reconcile() is True
    users, _, _ = guard_store.blacklist_read()
    assert {str(alice.pk), str(bob.pk)} <= set(users)
    assert blacklist.blacklist_reconcile() is False  # nothing to do the second time
    assert wait_for(lambda: refused_as(bob.pk) == "blacklisted", 1)


def test_admin_manages_the_blacklist_through_the_service(worker, make_buyers):
    from django.test import Client

    (user,) = make_buyers(1)
    get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    admin = Client()
    admin.login(username="root", password="root-password")
    bad = admin.post("/admin/seckill/blacklistentry/add/", {"kind": "ip", "value": "300.1.1.1", "reason": "x"})
    assert bad.status_code == 200 and b"Not an IP address" in bad.content
    assert not BlacklistEntry.objects.exists()

    good = admin.post("/admin/seckill/blacklistentry/add/", {"kind": "user", "value": f" {user.pk} ", "reason": "bot"})
    assert good.status_code == 302
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    entry = BlacklistEntry.objects.get()
    assert admin.post(f"/admin/seckill/blacklistentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 302
    assert wait_for(lambda: refused_as(user.pk) is None, 1)
