"""Deactivating or deleting a user reaches every web process (the access layer reads no user from the database).
Connected in SeckillConfig.ready(); the work is in seckill.access.blacklist."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def _on_user_saved(sender, instance, created, **kwargs):
    if created and instance.is_active:
        return  # nothing to tell: new users may buy
    user_id, active = instance.pk, instance.is_active
    transaction.on_commit(lambda: _publish(user_id, active))


def _on_user_deleted(sender, instance, **kwargs):
    user_id = instance.pk
    transaction.on_commit(lambda: _publish(user_id, False))


def _publish(user_id: int, active: bool) -> None:
    from seckill.access.blacklist import user_activity_publish

    user_activity_publish(user_id=user_id, active=active)


def connect() -> None:
    User = get_user_model()
    post_save.connect(_on_user_saved, sender=User, dispatch_uid="seckill.user_saved")
    post_delete.connect(_on_user_deleted, sender=User, dispatch_uid="seckill.user_deleted")
