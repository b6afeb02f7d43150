"""The purchase API's input shortcut gives the answers DRF's serializer gives."""

import pytest
from rest_framework.exceptions import ValidationError

from seckill.purchases.api import MAX_ID, SeckillBuyApi


def serializer_answer(data):
    serializer = SeckillBuyApi.InputSerializer(data=data)
    return dict(serializer.validated_data) if serializer.is_valid() else ("invalid", serializer.errors)


def shortcut_answer(data):
    try:
        return dict(SeckillBuyApi.input_valid(data))
    except ValidationError as exc:
        return ("invalid", exc.detail)


@pytest.mark.parametrize(
    "data",
    [
        {"product_id": 1},
        {"product_id": 5, "quantity": 2},
        {"product_id": MAX_ID},
        {"product_id": MAX_ID + 1},
        {"product_id": 0},
        {"product_id": -3},
        {"product_id": 1, "quantity": 0},
        {"product_id": 1, "quantity": 10**6},
        {"product_id": 1, "quantity": 10**6 + 1},
        {"product_id": True},
        {"product_id": 1, "quantity": False},
        {"product_id": "7"},
        {"product_id": 7.0},
        {"product_id": 7.5},
        {"product_id": None},
        {"product_id": [1]},
        {"product_id": 1, "extra": 1},
        {"quantity": 1},
        {},
        [],
        "x",
        None,
        {"product_id": 1, "quantity": None},
        {"product_id": 1, "path": "3.7.1796641282000.ab.cd"},
        {"product_id": 1, "path": ""},
        {"product_id": 1, "path": " x "},
        {"product_id": 1, "path": 7},
        {"product_id": 1, "path": None},
        {"product_id": 1, "path": "x" * 121},
    ],
)
def test_purchase_input_shortcut_answers_as_the_serializer(data):
    assert shortcut_answer(data) == serializer_answer(data)
