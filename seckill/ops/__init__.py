"""What the operator watches and repairs.

- `probes`, `urls`: /healthz, /readyz (reporting workers and beat) and /metrics, for the operator's side only
- `metrics`:   Prometheus counters (answers, latency, tasks) and the sale's state when scraped
- `heartbeat`: workers' and beat's heartbeats; the sweep the workers send while beat is silent
- `live`:      one reading of a product's sale, for the admin's live sale page
- `reconcile`: do the gate and the ledger agree, and repair them by deltas (`manage.py reconcile`, beat, admin)
"""
