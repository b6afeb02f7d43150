"""A draw's endpoints: the buyer's result (GET /api/seckill/<product_id>/entry/), the draw's public record (GET
/api/products/<product_id>/draw/) and its entry list once held (GET /api/products/<product_id>/draw/entries/).
An entry itself is made by the purchase endpoint (POST /api/seckill/)."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from seckill.access.callers import BUYER_CODES, ActiveBuyer, caller_id
from seckill.draws import selectors
from seckill_site.errors import http_status_for
from seckill_site.exception_handler import json_response
from seckill_site.openapi import error_responses


class EntrySerializer(serializers.Serializer):
    """An entry and where it stands (for the schema)."""

    code = serializers.CharField(help_text="entered | waitlisted | success | lapsed | not_drawn (or a refusal's code)")
    detail = serializers.CharField()
    product_id = serializers.IntegerField(required=False)
    user_id = serializers.IntegerField(required=False)
    entry_code = serializers.CharField(
        required=False, help_text="The entry's random code: find it in the draw's entry list."
    )
    draw_at = serializers.DateTimeField(required=False, help_text="When the draw is held (the window's end).")
    position = serializers.IntegerField(required=False, help_text="waitlisted: 1 is the next to get a unit.")
    waitlist_until = serializers.DateTimeField(required=False)
    order_id = serializers.IntegerField(required=False, help_text="success: the order to pay.")
    order_url = serializers.CharField(required=False)
    result_url = serializers.CharField(required=False)


class EntryDetailApi(APIView):
    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="Your entry to a product's draw, and its result",
        responses={
            200: OpenApiResponse(EntrySerializer, description="`success`: drawn, with the order to pay"),
            202: OpenApiResponse(EntrySerializer, description="`entered` (not drawn yet) or `waitlisted`"),
            **error_responses("product_not_found", "entry_not_found", *BUYER_CODES),
            409: OpenApiResponse(
                EntrySerializer,
                description="`not_drawn` or `lapsed` (drawn, the order unpaid in time or cancelled), with the entry; "
                "or `not_a_draw`: the product is sold first come",
            ),
        },
    )
    def get(self, request, product_id: int):
        answer = selectors.entry_result(product_id=product_id, user_id=caller_id(request))
        return json_response(answer.as_dict(), status=http_status_for(answer.code))


class DrawRecordSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    draw_at = serializers.DateTimeField()
    waitlist_until = serializers.DateTimeField()
    seed_sha256 = serializers.CharField(help_text="SHA-256 of the secret seed: shown before the window opens.")
    drawn = serializers.BooleanField()
    drawn_at = serializers.DateTimeField(required=False)
    seed = serializers.CharField(required=False, help_text="Once drawn: the seed, whose SHA-256 is seed_sha256.")
    entries_count = serializers.IntegerField(required=False)
    entries_sha256 = serializers.CharField(required=False, help_text="SHA-256 of the entry list (entries_url).")
    units = serializers.IntegerField(required=False, help_text="The units drawn: the first this many entrants win.")
    winners = serializers.IntegerField(required=False)
    passed_over = serializers.IntegerField(
        required=False, help_text="Entrants reached whom the ledger refused (an account deactivated since)."
    )
    entries_url = serializers.CharField(required=False)


class DrawRecordApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A draw's public record: its commitment, and once held its seed and entry list's digest (public)",
        description="How to check the winners with these: docs/draw.md.",
        auth=[],
        responses={
            200: DrawRecordSerializer,
            **error_responses("product_not_found", "not_a_draw", authenticated=False),
        },
    )
    def get(self, request, product_id: int):
        return Response(DrawRecordSerializer(selectors.draw_record(product_id=product_id)).data)


class DrawEntriesApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A held draw's entry codes, sorted, one a line (public)",
        auth=[],
        responses={
            (200, "text/plain"): OpenApiResponse(str, description="the list whose SHA-256 is entries_sha256"),
            **error_responses("product_not_found", "not_a_draw", "draw_not_held", authenticated=False),
        },
    )
    def get(self, request, product_id: int):
        listed = selectors.draw_entries_list(product_id=product_id)
        return HttpResponse(listed, content_type="text/plain; charset=us-ascii")
