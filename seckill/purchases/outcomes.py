"""The outcome of a purchase request: what the task returns, the view answers and the result endpoint shows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from django.urls import reverse

from seckill.access.purchase_tokens import purchase_token_make
from seckill_site.errors import SeckillError, answer_codes_register

if TYPE_CHECKING:
    from seckill.purchases.request import PurchaseRequest

SUCCESS = "success"
PENDING = "pending"
answer_codes_register({SUCCESS: 200, PENDING: 202})  # a refusal's status is its error's


@dataclass
class Outcome:
    """Serialized as is (None fields left out); `code` picks the HTTP status in the exception handler's table."""

    code: str
    detail: str
    request_id: str | None = None
    order_id: int | None = None
    product_id: int | None = None
    user_id: int | None = None
    quantity: int | None = None
    purchase_token: str | None = None
    result_url: str | None = None

    @property
    def is_final(self) -> bool:
        return self.code != PENDING

    def as_dict(self) -> dict:
        # Every field is a str or an int: no deep copy needed (dataclasses.asdict makes one, at a cost per purchase)
        values = ((name, getattr(self, name)) for name in _FIELD_NAMES)
        return {name: value for name, value in values if value is not None}

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__})

    @classmethod
    def from_error(cls, error: SeckillError, purchase: PurchaseRequest | None = None) -> Outcome:
        """A refusal; with the request's fields when it was made (a refusal before that carries code and detail)."""
        if purchase is None:
            return cls(code=error.code, detail=error.detail)
        return cls(code=error.code, detail=error.detail, **purchase.task_kwargs())

    @classmethod
    def success(cls, purchase: PurchaseRequest, *, order_id: int) -> Outcome:
        return cls(
            code=SUCCESS,
            detail="Purchased.",
            order_id=order_id,
            **purchase.task_kwargs(),
            purchase_token=purchase_token_make(
                order_id=order_id, user_id=purchase.user_id, product_id=purchase.product_id
            ),
        )

    @classmethod
    def pending(cls, purchase: PurchaseRequest) -> Outcome:
        return cls(
            code=PENDING,
            detail="The purchase is being processed; ask result_url for the outcome.",
            **purchase.task_kwargs(),
            result_url=reverse("seckill-request-detail", kwargs={"request_id": purchase.request_id}),
        )


_FIELD_NAMES = tuple(field.name for field in fields(Outcome))
