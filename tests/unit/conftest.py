"""tests/unit needs no server: no network connection (Redis, the broker, PostgreSQL) and no database, so that
`pytest tests/unit` runs anywhere in seconds. A test that needs one belongs in tests/integration/."""

import socket

import pytest


def _refused(self, address):
    raise AssertionError(f"a unit test connected to {address}: it belongs in tests/integration/")


@pytest.fixture(autouse=True)
def no_server(request, monkeypatch):
    if request.node.get_closest_marker("django_db") is not None:
        pytest.fail("a unit test uses the database: it belongs in tests/integration/")
    monkeypatch.setattr(socket.socket, "connect", _refused)
    monkeypatch.setattr(socket.socket, "connect_ex", _refused)
