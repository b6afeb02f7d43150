"""OpenAPI (drf-spectacular) helpers: every error an endpoint can answer, documented with its code's status;
the links from a purchase to its outcome and order.

@extend_schema(responses={200: OrderOutputSerializer, **error_responses("order_not_found", ...)})
"""

from __future__ import annotations

from collections import defaultdict

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from seckill_site.errors import http_status_for

# Answered by any authenticated endpoint, whatever it does.
AUTH_CODES = ("not_authenticated", "authentication_failed")
ANY_CODES = ("method_not_allowed", "internal_error")


class ErrorSerializer(serializers.Serializer):
    """Every error's body."""

    code = serializers.CharField(help_text="A stable machine code (see the description of each status).")
    detail = serializers.CharField(help_text="For people.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="Field errors."
    )


def error_responses(*codes: str, authenticated: bool = True) -> dict[int, OpenApiResponse]:
    """The error responses of an endpoint, by HTTP status, each listing its codes."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in (*codes, *(AUTH_CODES if authenticated else ()), *ANY_CODES):
        by_status[http_status_for(code)].append(code)
    return {
        status: OpenApiResponse(ErrorSerializer, description="code: " + ", ".join(f"`{c}`" for c in sorted(found)))
        for status, found in sorted(by_status.items())
    }


class FastJWTScheme(SimpleJWTScheme):
    """Our JWT check is simplejwt's, made faster: the same bearer scheme in the schema."""

    target_class = "seckill_site.authentication.FastJWTAuthentication"
    name = "bearerToken"  # (simplejwt's own class, on the product endpoints, is "jwtAuth": the same token)


# (operation, status) -> {link name: (target operationId, {parameter: runtime expression})}: where an answer leads,
# for clients and for the stateful phase of a schema-driven test (schemathesis follows links).
LINKS = {
    ("seckill_create", "200"): {
        "GetOrder": ("orders_retrieve", {"order_id": "$response.body#/order_id"}),
        "PayOrder": ("orders_pay_create", {"order_id": "$response.body#/order_id"}),
        "CancelOrder": ("orders_cancel_create", {"order_id": "$response.body#/order_id"}),
    },
    ("seckill_create", "202"): {
        "GetOutcome": ("seckill_requests_retrieve", {"request_id": "$response.body#/request_id"}),
    },
    ("seckill_requests_retrieve", "200"): {
        "GetOrder": ("orders_retrieve", {"order_id": "$response.body#/order_id"}),
        "CancelOrder": ("orders_cancel_create", {"order_id": "$response.body#/order_id"}),
    },
}


def add_links(result, generator, request, public):
    """drf-spectacular's POSTPROCESSING_HOOKS: it has no API for OpenAPI links, so they are written into the
    finished schema."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                for name, (target, parameters) in LINKS.get((operation.get("operationId"), status), {}).items():
                    response.setdefault("links", {})[name] = {"operationId": target, "parameters": parameters}
    return result
