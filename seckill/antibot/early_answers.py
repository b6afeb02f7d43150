"""POST /api/seckill/<product_id>/path/ answered before DRF's request handling, as the purchase is
(seckill/purchases/early_answers.py): for a request DRF would hand to the view as it is (a Bearer token the fast
check accepts, a JSON body `{}` or `{"solution": str}` within SECKILL_MAX_BODY_BYTES), the view's own answer
(api.path_answer); every other request goes to the DRF view. Paths are asked for in a crowd in the minute before
the start; DRF's dispatch would cost about as much as the path itself. SECKILL_BEFORE_DRF=0: all through DRF."""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from seckill.antibot.api import PathApi, path_answer
from seckill.antibot.challenges import MAX_SOLUTION_LENGTH
from seckill_site.authentication import fast_user_id
from seckill_site.errors import SeckillError
from seckill_site.exception_handler import error_response
from seckill_site.integrations.drf_early_answer import is_fast_buyer_json_view, view_with_early_answer
from seckill_site.parsers import json_body_read

# base64's characters: what the serializer takes as it is
PLAIN_SOLUTION = re.compile(rf"[A-Za-z0-9+/=_-]{{1,{MAX_SOLUTION_LENGTH}}}")


def path_view():
    """The view of POST /api/seckill/<product_id>/path/: the answer above, then PathApi for the rest (only while
    PathApi is set up as this module assumes)."""
    set_up_as_assumed = is_fast_buyer_json_view(PathApi)
    return view_with_early_answer(PathApi, _early_answer, method="POST", set_up_as_assumed=set_up_as_assumed)


def _early_answer(request, *args, product_id: int, **kwargs):
    if not settings.SECKILL_BEFORE_DRF:
        return None
    user_id = fast_user_id(request.META.get(jwt_settings.AUTH_HEADER_NAME))
    if user_id is None:
        return None
    fields = _plain_body(request)
    if fields is None:
        return None
    try:
        return path_answer(user_id=user_id, product_id=product_id, solution=fields.get("solution"), meta=request.META)
    except SeckillError as error:  # (anything else: the DRF view's to answer; nothing was issued)
        return error_response(error)


def _plain_body(request) -> dict | None:
    """`{}` or `{"solution": <a string the serializer takes as it is>}`, else None (the serializer decides)."""
    data = json_body_read(request)
    if type(data) is not dict or not data.keys() <= {"solution"}:
        return None
    solution = data.get("solution", "x")
    if type(solution) is not str or not PLAIN_SOLUTION.fullmatch(solution):
        return None
    return data
