"""The anti-bot endpoints of a product: GET /api/seckill/<product_id>/challenge/, POST
/api/seckill/<product_id>/path/ (seckill.antibot.services; a plain request for a path is answered before DRF, by
the same path_answer: seckill/antibot/early_answers.py)."""

from datetime import UTC, datetime

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from seckill.access.callers import caller_id
from seckill.antibot import services
from seckill.antibot.challenges import MAX_SOLUTION_LENGTH
from seckill.purchases.sale_cache import product_get_cached
from seckill_site.exception_handler import json_response
from seckill_site.openapi import error_responses
from seckill_site.serializers import StrictSerializer

ISSUE_REFUSALS = ("product_not_found", "sale_disabled", "path_not_open", "sale_ended", "sold_out")
BUYER_REFUSALS = ("user_inactive", "blacklisted", "forbidden_origin", "rate_limited", "unavailable")


class ChallengeApi(APIView):
    class ChallengeSerializer(serializers.Serializer):
        parameters = serializers.DictField(help_text="ALTCHA PoW v2 parameters (algorithm, cost, nonce, salt, ...)")
        signature = serializers.CharField()

    @extend_schema(
        summary="A proof-of-work challenge (ALTCHA PoW v2) for a product sold with anti_bot `challenge`",
        description="Solve it (ALTCHA's solver: /static/seckill/altcha/pbkdf2.js), then send the solution to "
        ".../path/. Issued from the product's path_lead_seconds before its start; valid SECKILL_CHALLENGE_TTL "
        "seconds; each solution buys one path. Counts against the buyer's rate limits.",
        responses={
            200: ChallengeSerializer,
            **error_responses("challenge_not_required", *ISSUE_REFUSALS, *BUYER_REFUSALS),
        },
    )
    def get(self, request, product_id: int):
        product = product_get_cached(product_id=product_id)
        challenge = services.challenge_issue(user_id=caller_id(request), product=product, meta=request.META)
        return Response(challenge, headers={"Cache-Control": "no-store"})


class PathApi(APIView):
    class PathInputSerializer(StrictSerializer):
        solution = serializers.CharField(
            required=False,
            max_length=MAX_SOLUTION_LENGTH,
            help_text="The solved challenge (ALTCHA's payload: base64 of {challenge, solution}); products sold "
            "with anti_bot `challenge` only.",
        )

    class PathSerializer(serializers.Serializer):
        path = serializers.CharField(help_text="Send it as `path` with the purchase: it admits one request.")
        expires_at = serializers.DateTimeField()

    @extend_schema(
        summary="A one-time purchase path",
        description="Issued from the product's path_lead_seconds before its start until its end; valid until "
        "SECKILL_PATH_TTL seconds after the start (after now, once the sale is on). A purchase spends it only "
        "if it is admitted. Not rate-limited: it costs a solution, or is worth one purchase attempt, which is.",
        request=PathInputSerializer,
        responses={
            200: PathSerializer,
            **error_responses(
                "invalid_request",
                "payload_too_large",
                "path_not_required",
                *ISSUE_REFUSALS,
                "challenge_required",
                "challenge_invalid",
                "challenge_expired",
                "challenge_other_buyer",
                "challenge_other_product",
                "challenge_used",
                *(code for code in BUYER_REFUSALS if code != "rate_limited"),
            ),
        },
    )
    def post(self, request, product_id: int):
        data = self.PathInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return path_answer(
            user_id=caller_id(request),
            product_id=product_id,
            solution=data.validated_data.get("solution"),
            meta=request.META,
        )


_expires_at = serializers.DateTimeField()


def path_answer(*, user_id: int, product_id: int, solution: str | None, meta: dict) -> HttpResponse:
    """A path for the buyer (services.path_issue), as JSON: the one path of the DRF view and of the answer before
    DRF. Raises the service's refusals (answered by DRF's handler, or by the caller before DRF)."""
    issued = services.path_issue(
        user_id=user_id, product=product_get_cached(product_id=product_id), solution=solution, meta=meta
    )
    expires_at = _expires_at.to_representation(datetime.fromtimestamp(issued.expires_ms / 1000, tz=UTC))
    response = json_response({"path": issued.path, "expires_at": expires_at}, status=200)
    response["Cache-Control"] = "no-store"
    return response
