"""The OpenAPI schema (/api/schema/, drf-spectacular) validates, lists every API endpoint, and documents every
answer code with its HTTP status; the docs page is served from the project (never a CDN)."""

import re

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver

from seckill_site.errors import http_statuses

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))  # raises on any warning
    return yaml.safe_load(out.read_text())


def api_routes() -> set[str]:
    """Every route of the URLconf under /api/, as OpenAPI writes paths (the schema's own two left out)."""
    found = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/") and route not in ("api/schema/", "api/docs/"):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns)
    return found


def test_the_schema_lists_every_api_endpoint(schema):
    assert set(schema["paths"]) == api_routes()
    assert len(api_routes()) >= 12


def test_every_answer_code_is_documented_with_its_status(schema):
    documented: dict[str, set[int]] = {}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                for code in re.findall(r"`(\w+)`", response.get("description", "")):
                    documented.setdefault(code, set()).add(int(status))
    never_answered = {"not_acceptable"}  # JSON-only: every client gets JSON (seckill_site/negotiation.py)
    assert set(http_statuses()) - never_answered <= set(documented)
    for code, statuses in documented.items():
        assert statuses == {http_statuses()[code]}, code


def test_the_docs_page_is_served_from_the_project(clean_redis):
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    assert b"drf_spectacular_sidecar" in page.content and b"cdn" not in page.content.lower()
    assert Client().get("/api/schema/").status_code == 200
