"""The purchase's endpoints: POST /api/seckill/ (checked, submitted, answered) and its outcome."""

import re
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from seckill.access.callers import BUYER_CODES, ActiveBuyer, caller_id
from seckill.antibot import paths
from seckill.purchases import selectors as purchase_selectors
from seckill.purchases.answer_metrics import purchase_answered
from seckill.purchases.idempotency import IDEMPOTENCY_KEY
from seckill.purchases.services import purchase_request_check, purchase_submit
from seckill_site.errors import SeckillError, http_status_for
from seckill_site.exception_handler import error_code_for, error_response, json_response
from seckill_site.openapi import error_responses
from seckill_site.serializers import StrictSerializer

MAX_ID = 2**63 - 1
MAX_QUANTITY = 1_000_000
MAX_PATH_LENGTH = paths.MAX_LENGTH
PLAIN_PATH = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_PATH_LENGTH}}}")  # what the serializer takes as it is
INPUT_FIELDS = frozenset({"product_id", "quantity", "path"})


def plain_input(data) -> dict | None:
    """The fields of a body of the plain shape ({"product_id": id} and maybe an integer "quantity", both in range,
    and a "path" of a path's characters), which InputSerializer would accept as they are; None for anything else
    (the serializer decides)."""
    if type(data) is dict and data.keys() <= INPUT_FIELDS:
        product_id, quantity, path = data.get("product_id"), data.get("quantity", 1), data.get("path", "")
        if (
            type(product_id) is int
            and type(quantity) is int
            and 1 <= product_id <= MAX_ID
            and 1 <= quantity <= MAX_QUANTITY
            and ("path" not in data or (type(path) is str and PLAIN_PATH.fullmatch(path)))
        ):
            fields = {"product_id": product_id, "quantity": quantity}
            if path:
                fields["path"] = path
            return fields
    return None


def purchase_answer(*, user_id: int, meta: dict, read_input: Callable[[], dict], started: float) -> HttpResponse:
    """A purchase, from the caller and the HTTP request to its answer: checked (purchase_request_check), handed
    to the logic layer (purchase_submit), answered and counted. The one path of both the DRF view and the answer
    before DRF (early_answers.py). Domain refusals are answered here; DRF's errors (`read_input`'s validation)
    and anything unexpected are raised, for DRF's exception handler or the caller."""
    code, product_id = "internal_error", None
    try:
        purchase = purchase_request_check(user_id=user_id, meta=meta, read_input=read_input)
        product_id = purchase.product_id
        outcome = purchase_submit(purchase, timeout=settings.SECKILL_RESULT_TIMEOUT)
        code = outcome.code
        return outcome_response(outcome)
    except SeckillError as error:  # most answers of a flash sale: sold out
        code = error.code
        return error_response(error)
    except Exception as exc:  # answered by DRF's handler (validation), or a 500
        code = error_code_for(exc)
        raise
    finally:
        purchase_answered(code, started, product_id)


def outcome_response(outcome) -> HttpResponse:
    """The outcome as JSON, the bytes DRF's JSONRenderer writes (an answer before DRF has no renderer)."""
    return json_response(outcome.as_dict(), status=http_status_for(outcome.code))


class OutcomeSerializer(serializers.Serializer):
    """A purchase request's outcome (the task's decision, or `pending`), for the schema."""

    code = serializers.CharField(help_text="success | pending | a refusal's code")
    detail = serializers.CharField()
    request_id = serializers.CharField(required=False)
    order_id = serializers.IntegerField(required=False)
    product_id = serializers.IntegerField(required=False)
    user_id = serializers.IntegerField(required=False)
    quantity = serializers.IntegerField(required=False)
    purchase_token = serializers.CharField(required=False, help_text="With success: proof of the purchase.")
    result_url = serializers.CharField(required=False, help_text="With pending: where the decision will be.")


PURCHASE_REFUSALS = (
    "invalid_request",
    "user_inactive",
    "blacklisted",
    "forbidden_origin",
    "product_not_found",
    "sold_out",
    "already_purchased",
    "sale_not_started",
    "sale_ended",
    "sale_disabled",
    "path_required",
    "path_invalid",
    "path_other_buyer",
    "path_other_product",
    "path_expired",
    "path_used",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "busy",
    "unavailable",
)


class SeckillBuyApi(APIView):
    class InputSerializer(StrictSerializer):
        product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)
        path = serializers.CharField(
            required=False,
            max_length=MAX_PATH_LENGTH,
            allow_blank=True,
            trim_whitespace=False,  # (a path is checked as sent: a changed one is not ours)
            help_text="The one-time purchase path (POST /api/seckill/{product_id}/path/) of a product whose "
            "anti_bot is not `off`.",
        )

    @extend_schema(
        summary="Buy",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                pattern=IDEMPOTENCY_KEY.pattern,
                description="1-64 of A-Z a-z 0-9 _ . : -; the same key from the same buyer answers the first "
                "request's outcome for 24 h.",
            )
        ],
        responses={
            200: OpenApiResponse(OutcomeSerializer, description="code `success`: sold"),
            202: OpenApiResponse(
                OutcomeSerializer,
                description="code `pending`: not decided yet, see result_url; for a product sold by draw, `entered`: "
                "the buyer's entry (entry_code, draw_at, result_url: GET /api/seckill/{product_id}/entry/)",
            ),
            **error_responses(*PURCHASE_REFUSALS),
        },
    )
    def post(self, request):
        started = time.perf_counter()
        return purchase_answer(
            user_id=caller_id(request),
            meta=request.META,
            read_input=lambda: self.input_valid(request.data),
            started=started,
        )

    @classmethod
    def input_valid(cls, data) -> dict:
        """The validated input. A plain well-formed body (the hot path) skips building the serializer, which
        costs more than the rest of a sold-out answer; anything else gets the serializer's checks and errors."""
        fields = plain_input(data)
        if fields is not None:
            return fields
        serializer = cls.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class SeckillRequestDetailApi(APIView):
    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="A purchase request's outcome",
        responses={
            200: OpenApiResponse(OutcomeSerializer, description="decided: `success`"),
            202: OpenApiResponse(OutcomeSerializer, description="`pending`"),
            409: OpenApiResponse(OutcomeSerializer, description="decided: a refusal's code"),
            **error_responses("not_found", *BUYER_CODES),
        },
    )
    def get(self, request, request_id: str):
        outcome = purchase_selectors.purchase_request_outcome(request_id=request_id, user_id=caller_id(request))
        return outcome_response(outcome)
