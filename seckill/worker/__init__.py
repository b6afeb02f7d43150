"""The logic layer: deciding purchases, in Celery's worker (the tasks themselves are thin, in seckill/tasks.py,
where Celery's autodiscovery looks for an app's tasks).

- `decisions`:      a request decided (the ledger's statements, then Redis, one transaction), or given up; a
                    pool job's requests decided together
- `ledger`:         the ledger's SQL of a sale (a job's sales of one product: one statement on PostgreSQL)
- `outcome_record`: the outcome recorded with Celery's result, one Redis step
- `sweep`:          requests whose broker message was lost, found and sent again
"""
