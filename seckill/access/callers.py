"""Who calls: the token's user id (no database query), and the permission of a buyer's endpoints."""

import redis
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated

from seckill.access import blacklist
from seckill_site.errors import Unavailable


def caller_id(request) -> int:
    """The authenticated user's id from the token's claim (no database query)."""
    try:
        return int(request.user.id)
    except (TypeError, ValueError):
        raise AuthenticationFailed("Token has no valid user id.") from None


class ActiveBuyer(IsAuthenticated):
    """A token's caller whose account was not deactivated or deleted since the token was issued (the blacklist
    snapshot: no query): the buyer's endpoints besides the purchase, whose guards check it. Raises UserInactive
    (403), Unavailable."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        try:
            blacklist.user_active_check(user_id=caller_id(request))
        except redis.RedisError as exc:
            raise Unavailable() from exc
        return True


# What an endpoint guarded by ActiveBuyer may answer about its caller, for the schema.
BUYER_CODES = ("user_inactive", "unavailable")
