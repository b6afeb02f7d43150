"""The products as the sale sees them: writes that keep the Redis gate in step, the product endpoints and admin.

The catalogue's model and its database-only services are the `products` app, below the sale; these modules add
what needs the sale (the gate's live stock, the cached sale state), so `products` never imports the sale.

- `services`: product writes through `products.services`, the gate kept in step by deltas; reads with live stock
- `api`, `urls`: GET /api/products/ and the product page (also answered before DRF), staff's create and edit
- `admin`:   the product list with live stock and drift, the live sale page, the Reconcile action
"""
