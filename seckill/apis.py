from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from seckill import guards, selectors
from seckill.submit import purchase_submit
from seckill_site.errors import SeckillError, http_status_for
from seckill_site.exception_handler import error_response

MAX_ID = 2**63 - 1
MAX_QUANTITY = 1_000_000
INPUT_FIELDS = frozenset({"product_id", "quantity"})


def caller_id(request) -> int:
    """The authenticated user's id from the token's claim (no database query)."""
    try:
        return int(request.user.id)
    except (TypeError, ValueError):
        raise AuthenticationFailed("Token has no valid user id.") from None


def outcome_response(outcome) -> Response:
    return Response(outcome.as_dict(), status=http_status_for(outcome.code))


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, not silently ignored (a typo must not buy with defaults)."""

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({field: ["Unknown field."] for field in sorted(unknown)})
        return attrs


class SeckillBuyApi(APIView):
    class InputSerializer(StrictSerializer):
        product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)

    def post(self, request):
        user_id = caller_id(request)
        ip = guards.purchase_guard(user_id=user_id, meta=request.META)
        fields = self.input_valid(request.data)
        try:
            outcome = purchase_submit(
                user_id=user_id,
                ip=ip,
                timeout=settings.SECKILL_RESULT_TIMEOUT,
                idempotency_key=request.META.get("HTTP_IDEMPOTENCY_KEY"),
                **fields,
            )
        except SeckillError as error:  # most answers of a flash sale: the same body the exception handler makes
            return error_response(error)
        return outcome_response(outcome)

    @classmethod
    def input_valid(cls, data) -> dict:
        """The validated input. A plain well-formed body (the hot path) skips building the serializer, which
        costs more than the rest of a sold-out answer; anything else gets the serializer's checks and errors."""
        if type(data) is dict and data.keys() <= INPUT_FIELDS:
            product_id, quantity = data.get("product_id"), data.get("quantity", 1)
            if (
                type(product_id) is int
                and type(quantity) is int
                and 1 <= product_id <= MAX_ID
                and 1 <= quantity <= MAX_QUANTITY
            ):
                return {"product_id": product_id, "quantity": quantity}
        serializer = cls.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class SeckillRequestDetailApi(APIView):
    def get(self, request, request_id: str):
        outcome = selectors.purchase_request_outcome(request_id=request_id, user_id=caller_id(request))
        return outcome_response(outcome)
