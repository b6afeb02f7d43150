"""The tests' Redis Cluster and Sentinel set: seckill_site/local_redis_sets.py, on free ports."""

from seckill_site.local_redis_sets import MASTER_NAME, RedisClusterProcesses, RedisSentinelSet

__all__ = ["MASTER_NAME", "RedisClusterProcesses", "RedisSentinelSet"]


def sentinel_control(url: str):
    """A Celery app on a Sentinel broker, to ping the workers started on it. Never the current app: the project's
    tasks follow the current app, and would lose their result backend for every later test."""
    from celery import Celery

    return Celery(set_as_current=False, broker=url, broker_transport_options={"master_name": MASTER_NAME})
