"""The test Redis database's keys (TEST_REDIS_DB, the tests' own number)."""


def delete_app_keys(client) -> None:
    """Remove the project's keys (broker queues and bindings are left alone)."""
    keys = list(client.scan_iter("seckill:*", count=1000))
    if keys:
        client.delete(*keys)
