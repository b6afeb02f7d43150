"""What the access layer says of a buyer, asked directly (no purchase attempted)."""

from seckill.access import blacklist
from seckill.errors import Blacklisted, UserInactive


def refused_as(user_id, ip="127.0.0.1", now_ms=None):
    """What the access layer of this process says of a buyer right now, or at `now_ms` (no purchase is attempted)."""
    try:
        blacklist.blacklist_check(user_id=user_id, ip=ip, now_ms=now_ms)
    except (Blacklisted, UserInactive) as error:
        return error.code
    return None
