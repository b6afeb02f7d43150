"""The outcome of a purchase request: what the task returns, the view answers and the result endpoint shows."""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.urls import reverse

from seckill.access.purchase_tokens import purchase_token_make
from seckill_site.errors import SeckillError

SUCCESS = "success"
PENDING = "pending"


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
    def from_error(cls, error: SeckillError, **fields) -> Outcome:
        return cls(code=error.code, detail=error.detail, **fields)

    @classmethod
    def success(cls, *, order_id: int, request_id: str, user_id: int, product_id: int, quantity: int) -> Outcome:
        return cls(
            code=SUCCESS,
            detail="Purchased.",
            request_id=request_id,
            order_id=order_id,
            product_id=product_id,
            user_id=user_id,
            quantity=quantity,
            purchase_token=purchase_token_make(order_id=order_id, user_id=user_id, product_id=product_id),
        )

    @classmethod
    def pending(cls, *, request_id: str, user_id: int, product_id: int, quantity: int) -> Outcome:
        return cls(
            code=PENDING,
            detail="The purchase is being processed; ask result_url for the outcome.",
            request_id=request_id,
            product_id=product_id,
            user_id=user_id,
            quantity=quantity,
            result_url=reverse("seckill-request-detail", kwargs={"request_id": request_id}),
        )


_FIELD_NAMES = tuple(field.name for field in fields(Outcome))
