"""What a purchase request is: one frozen value, made once from the HTTP request (services.purchase_request_check)
and handed down, to the submit step, into the task's arguments, to the worker's decision and to its outcome."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PurchaseRequest:
    request_id: str  # also the Celery task's id and the order's: a redelivery finds its own
    user_id: int
    product_id: int
    quantity: int
    ip: str = ""  # the client's address (rate limits): the web side's only
    idempotency_key: str | None = None  # the web side's only
    path: str | None = None  # its one-time purchase path, as sent (seckill/antibot/paths.py): the web side's only

    def task_kwargs(self) -> dict:
        """What the task is sent, and what every record of the request keeps."""
        return {
            "request_id": self.request_id,
            "user_id": self.user_id,
            "product_id": self.product_id,
            "quantity": self.quantity,
        }

    def with_request_id(self, request_id: str) -> PurchaseRequest:
        """The same purchase under another request id (the first request of an Idempotency-Key)."""
        return PurchaseRequest(
            request_id, self.user_id, self.product_id, self.quantity, self.ip, self.idempotency_key, self.path
        )
