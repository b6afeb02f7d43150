import csv

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework_simplejwt.tokens import AccessToken

pytestmark = pytest.mark.django_db


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_create_buyers_writes_valid_tokens_and_reuses_accounts(tmp_path):
    out = tmp_path / "buyers.csv"
    call_command("create_buyers", "300", "--prefix", "lt", "--output", str(out))
    rows = read(out)
    assert len(rows) == 300
    assert list(rows[0]) == ["user_id", "username", "token"]
    for row in rows[:5] + rows[-5:]:
        assert int(AccessToken(row["token"])["user_id"]) == int(row["user_id"])
    User = get_user_model()
    assert User.objects.filter(username__startswith="lt", is_active=True).count() == 300

    call_command("create_buyers", "310", "--prefix", "lt", "--output", str(out))
    again = read(out)
    assert len(again) == 310
    assert {r["user_id"] for r in rows} <= {r["user_id"] for r in again}  # the first 300 were reused
    assert User.objects.filter(username__startswith="lt").count() == 310
