"""HTTP clients: DRF's test client with a buyer's token (in this process), plain HTTP to a started server."""

from __future__ import annotations

import json
import time
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


def final_response(client, response, deadline_s=30.0):
    """Follow a 202 to its outcome through the result endpoint (polling with a deadline)."""
    end = time.monotonic() + deadline_s
    while response.status_code == 202 and time.monotonic() < end:
        time.sleep(0.05)
        response = client.get(response.json()["result_url"])
    return response


def post_until_admitted(client, product, tries=200):
    """A buyer whom the admission gate tells `busy` comes back after a moment, as a real client would."""
    for _ in range(tries):
        response = client.post("/api/seckill/", {"product_id": product.pk}, format="json")
        if response.status_code != 429:
            return response
        time.sleep(0.05)  # a client's back-off (the Retry-After, shortened), not synchronisation
    return response
