"""Anti-bot: what makes each purchase attempt cost a bot something, per product (Product.anti_bot):

- `challenges`: the proof-of-work challenge (ALTCHA), behind a small verifier interface
- `paths`:      one-time purchase paths: an HMAC token over buyer, product, nonce and expiry
- `services`:   a challenge issued, a path issued for a solution (each once, in its window)
- `api`:        GET /api/seckill/<product_id>/challenge/, POST /api/seckill/<product_id>/path/
- `errors`:     each refusal's code

The purchase spends its path in the admission's own Redis step (gate/lua/admit.lua), which also caps the pace
of admissions (Product.max_admissions_per_second).
"""
