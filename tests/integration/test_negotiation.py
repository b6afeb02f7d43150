"""JSON-only content negotiation answers as DRF's would, without parsing the Accept header."""

import pytest


@pytest.mark.django_db
def test_an_api_client_asking_for_html_gets_json():
    from rest_framework.test import APIClient

    response = APIClient().get("/api/time/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "epoch_ms" in response.json()
