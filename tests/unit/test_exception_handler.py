import json

from rest_framework import exceptions
from rest_framework.views import APIView

import products.errors
import seckill.errors
from seckill import errors
from seckill.purchases.outcomes import Outcome
from seckill_site.errors import InvalidRequest, RateLimited, SeckillError, _subclasses, http_statuses
from seckill_site.exception_handler import handle_exception


def _ctx():
    return {"view": APIView(), "request": None}


def test_every_domain_error_declares_its_http_status_and_each_code_has_one():
    assert products.errors.ProductNotFound and seckill.errors.SoldOut  # every app's errors are loaded
    undeclared = [cls.__name__ for cls in _subclasses(SeckillError) if "http_status" not in vars(cls)]
    assert undeclared == []
    by_code = {}
    for cls in _subclasses(SeckillError):
        by_code.setdefault(cls.code, set()).add(cls.http_status)
    assert {code: statuses for code, statuses in by_code.items() if len(statuses) > 1} == {}
    assert all(http_statuses()[code] == status for code, (status,) in by_code.items())


def test_the_statuses_are_the_ones_docs_api_md_documents():
    import re
    from pathlib import Path

    import seckill.orders.payments  # noqa: F401  (the apps register their answers' codes as they load)
    import seckill.purchases.outcomes  # noqa: F401

    rows = re.findall(r"^\| (\d{3}) \| (.+?) \|", (Path(__file__).parents[2] / "docs" / "API.md").read_text(), re.M)
    documented: dict[str, set[int]] = {}
    for status, codes in rows:
        for code in re.findall(r"`(\w+)`", codes):
            documented.setdefault(code, set()).add(int(status))
    assert len(documented) >= 25
    assert {code: {http_statuses().get(code)} for code in documented} == documented


def test_domain_error_becomes_code_and_detail():
    response = handle_exception(errors.SoldOut(), _ctx())
    assert response.status_code == 409
    assert response.data == {"code": "sold_out", "detail": "The product is sold out."}


def test_validation_error_keeps_field_errors():
    response = handle_exception(exceptions.ValidationError({"product_id": ["required"]}), _ctx())
    assert response.status_code == 400
    assert response.data["code"] == "invalid_request"
    assert response.data["errors"] == {"product_id": ["required"]}


def test_unmapped_exception_is_a_json_500():
    response = handle_exception(ZeroDivisionError("boom"), _ctx())
    assert response.status_code == 500
    assert response.data == {"code": "internal_error", "detail": "Internal server error."}


def test_outcome_round_trips_through_a_dict_without_empty_fields():
    outcome = Outcome(code="sold_out", detail="x", request_id="r1", product_id=2, user_id=3, quantity=1)
    data = outcome.as_dict()
    assert "order_id" not in data and "purchase_token" not in data
    assert Outcome.from_dict(data) == outcome


def test_the_views_fast_error_answer_is_what_drf_would_render():
    from rest_framework.renderers import JSONRenderer

    from seckill_site.exception_handler import error_response

    cases = [
        errors.SoldOut(),
        errors.Busy(retry_after=2),
        RateLimited(retry_after=3),
        InvalidRequest(errors={"quantity": ["Ensure this value is less than or equal to 1."]}),
        InvalidRequest("Prix élevé — «bad»", errors={"Idempotency-Key": ["1 to 64 letters"]}),
    ]
    for error in cases:
        fast = error_response(error)
        slow = handle_exception(error, _ctx())
        assert fast.status_code == slow.status_code
        assert fast.content == JSONRenderer().render(slow.data)
        assert fast["Content-Type"] == "application/json"
        assert fast.get("Retry-After") == slow.get("Retry-After")


def test_error_bodies_encoded_once_are_only_the_default_ones():
    # The default bodies are kept encoded; an error with its own detail or field errors must not get them.
    from seckill.errors import SoldOut
    from seckill_site.errors import InvalidRequest
    from seckill_site.exception_handler import error_response

    for _ in range(2):
        assert json.loads(error_response(SoldOut()).content) == {"code": "sold_out", "detail": SoldOut.default_detail}
    assert json.loads(error_response(SoldOut("Only 2 left.")).content)["detail"] == "Only 2 left."
    body = json.loads(error_response(InvalidRequest(errors={"quantity": ["Too many."]})).content)
    assert body["errors"] == {"quantity": ["Too many."]}
    assert json.loads(error_response(InvalidRequest()).content) == {
        "code": "invalid_request",
        "detail": InvalidRequest.default_detail,
    }


def test_an_answer_made_without_drf_is_the_bytes_drfs_renderer_writes():
    from rest_framework.renderers import JSONRenderer

    from seckill_site.exception_handler import json_bytes

    data = {"code": "success", "detail": "Achat réussi ✓", "order_id": 2**62, "purchase_token": "a.b-c_d"}
    assert json_bytes(data) == JSONRenderer().render(data)
