"""Hostile input from the project's own OpenAPI schema (schemathesis): against a live server (the Procfile's, the real
worker), no answer is a 500, every answer matches the schema, and whatever it sends, the ledger and Redis agree
afterwards (a refused request changed no stock)."""

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable

from products.models import Product
from tests.conftest import assert_gate_and_ledger_agree, token_for

pytestmark = [pytest.mark.slow, pytest.mark.worker]

EXAMPLES = 25  # per operation, valid and invalid data both (a bounded run for CI)
# Not promises of this API: that every schema-valid body is accepted (a string may hold a NUL, which Django's
# fields refuse with a 400), nor that every schema-invalid one is refused (a page size that is no whole number
# falls back to the default page, as DRF's paginators do). Every other check runs: no 5xx, and status codes,
# content types, headers and bodies as the schema says.
LENIENT = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection]


def test_no_answer_is_a_500_and_every_answer_matches_the_schema(web, worker, make_product):
    base = web(SECKILL_USER_RATE_LIMIT="", SECKILL_LOGIN_USER_RATE_LIMIT="", SECKILL_LOGIN_IP_RATE_LIMIT="")
    staff = get_user_model().objects.create_user("fuzzer", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_product", "change_product"]))
    make_product(stock_total=5)
    headers = {"Authorization": f"Bearer {token_for(staff)}"}
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                case.call_and_validate(base_url=base, headers=headers, excluded_checks=LENIENT)

            try:
                call()
            except Unsatisfiable:  # an operation with nothing to make invalid (no parameter, no body)
                assert mode is schemathesis.GenerationMode.NEGATIVE
    for product_id in Product.objects.values_list("pk", flat=True):
        assert_gate_and_ledger_agree(product_id)  # whatever was sent, no refused request changed stock
