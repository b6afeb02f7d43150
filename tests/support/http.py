"""HTTP clients: DRF's test client with a buyer's token (in this process), plain HTTP to a started server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken


def token_for(user) -> str:
    return str(AccessToken.for_user(user))


def api_client(user=None, token: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = token_for(user)
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def http(method, url, body=None, token=None):
    """(status, JSON body) of a request to a running server."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
