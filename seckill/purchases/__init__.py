"""The web side of a purchase (the access layer), in the order a request meets it:

- `urls`:          POST /api/seckill/ (first in the URLconf) and GET /api/seckill/requests/<id>/
- `early_answers`: a plain purchase (fast token, plain JSON body) taken before DRF's request handling
- `api`:           `purchase_answer`, the one path of both: check, submit, answer, count; the DRF endpoints
- `services`:      `purchase_request_check` (guards, input: the PurchaseRequest) and `purchase_submit`, the flow
                   below, and where the rate limit is counted
- `request`:       PurchaseRequest, the frozen value handed down from here to the worker and the outcome
- `sale_cache`:    the process' copy of each product's sale state, and the refusals made from it
- `idempotency`:   an Idempotency-Key's replay or first attempt
- `admission`:     rate limits, admission slot and request record, one Redis step (gate/lua/admit.lua)
- `enqueue`:       the task published, its own result waited on
- `outcomes`:      what a request gets: the Outcome the task returns and the view answers
- `selectors`:     a request's outcome, for GET /api/seckill/requests/<id>/
- `answer_metrics`: each answer counted in Prometheus (GET /metrics shows it: seckill/ops/metrics.py)
"""
