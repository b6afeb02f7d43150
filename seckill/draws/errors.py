"""A draw's refusals (each with its HTTP status)."""

from rest_framework import status

from seckill_site.errors import SeckillError


class NotDrawn(SeckillError):
    code = "not_drawn"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "Your entry was not drawn."


class EntryNotFound(SeckillError):
    code = "entry_not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "You have no entry in this product's draw."


class NotADraw(SeckillError):
    code = "not_a_draw"
    http_status = status.HTTP_409_CONFLICT  # (the product exists: as challenge_not_required)
    default_detail = "This product is not sold by draw."


class DrawNotHeld(SeckillError):
    code = "draw_not_held"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The entry list is published once the draw is held."
