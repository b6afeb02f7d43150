"""Orders after the sale: payment, expiry, cancellation, the payment provider's webhook.

- `services`:  pay, cancel, expire; units back to the ledger and the gate, once
- `payments`:  the provider's signed webhook; money that paid no order is kept for a refund
- `selectors`: a buyer's orders; the admin's export
- `api`, `urls`: the buyer's order endpoints and the webhook
- `admin`:     orders (read, cancel, export) and payment events (refunds)
"""
