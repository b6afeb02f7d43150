"""POST /api/seckill/ answered before DRF's request handling (its request wrapping, negotiation, authentication
and permission steps cost about a quarter of a sold-out answer), for a request DRF would let through to the view
unchanged: a Bearer token the fast check of seckill_site.authentication accepts and a JSON body of the plain shape
(the answer is JSON whatever the Accept header, the view's only renderer). Such a request takes the view's own
path (api.purchase_answer: the same checks, submit, body, status, headers and metrics); every other request goes
to the DRF view. Once a request is on that path it is never handed to DRF as well: it may have been submitted.
SECKILL_BEFORE_DRF=0 sends every request to the DRF views.
(The product page a crowd refreshes is answered before DRF the same way: seckill/catalogue/api.py.)
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from seckill.purchases.api import SeckillBuyApi, plain_input, purchase_answer
from seckill_site.authentication import fast_user_id
from seckill_site.exception_handler import error_body, json_response
from seckill_site.integrations.drf_early_answer import is_fast_buyer_json_view, view_with_early_answer
from seckill_site.parsers import json_body_read

logger = logging.getLogger(__name__)


def purchase_view():
    """The view of POST /api/seckill/: the answers above, then SeckillBuyApi for the rest (through
    seckill_site/integrations/drf_early_answer.py: only with the DRF versions it was tested with, and only while the
    DRF view is set up as this module assumes: the fast token check, authenticated callers, no throttle, JSON
    only)."""
    set_up_as_assumed = is_fast_buyer_json_view(SeckillBuyApi)
    return view_with_early_answer(SeckillBuyApi, _early_answer, method="POST", set_up_as_assumed=set_up_as_assumed)


def _early_answer(request, *args, **kwargs):
    """The view's answer to a request DRF would hand to the view as it is, or None (then the DRF view answers)."""
    if not settings.SECKILL_BEFORE_DRF:
        return None
    started = time.perf_counter()
    meta = request.META
    user_id = fast_user_id(meta.get(jwt_settings.AUTH_HEADER_NAME))
    if user_id is None:
        return None
    fields = _plain_body(request)
    if fields is None:
        return None
    try:
        return purchase_answer(user_id=user_id, meta=meta, read_input=lambda: fields, started=started)
    except Exception:  # the request may be submitted: answered here as DRF's handler answers it, never run twice
        logger.exception("unhandled error in the purchase before DRF")
        return json_response(error_body("internal_error", "Internal server error."), status=500)


def _plain_body(request) -> dict | None:
    """The fields of a JSON body of the plain shape (api.plain_input), within SECKILL_MAX_BODY_BYTES, else None."""
    return plain_input(json_body_read(request))
