"""The two answers most requests of a sale get, given before DRF handles the request: DRF's request wrapping,
negotiation, authentication and permission steps cost about a quarter of such an answer.

- POST /api/seckill/: a refusal from this process' cached sale state (sold out, not started, ended, disabled, not
  enough stock, unknown product), for a request the DRF view (apis.SeckillBuyApi) would refuse the same way: a
  Bearer token the fast check of seckill_site.authentication accepts, no Idempotency-Key, a JSON body of the plain
  shape, past the guards.
(The product page a crowd refreshes is answered before DRF the same way: seckill/catalogue/api.py.)

Each answer is the DRF view's: the same body, status and headers, counted in the same metrics. Everything else,
every error included, goes to the DRF view, which checks it all again; only a purchase that passed every check
here and was not refused carries their result (`purchase_checked`: the caller, address and fields), which the
view takes instead of checking twice. SECKILL_BEFORE_DRF=0 sends every request to the DRF views.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from rest_framework.permissions import IsAuthenticated
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from seckill.access import guards
from seckill.ops import metrics
from seckill.purchases.api import SeckillBuyApi, plain_input
from seckill.purchases.sale_cache import sale_check_cached
from seckill_site.authentication import FastJWTAuthentication, fast_user_id
from seckill_site.errors import SeckillError
from seckill_site.exception_handler import error_response
from seckill_site.integrations.drf_early_answer import view_with_early_answer


def purchase_view():
    """The view of POST /api/seckill/: the refusals above, then SeckillBuyApi for the rest (through
    seckill_site/integrations/drf_early_answer.py: only with the DRF versions it was tested with, and only while the
    DRF view is set up as this module assumes: the fast token check, authenticated callers, no throttle)."""
    set_up_as_assumed = (
        list(SeckillBuyApi.authentication_classes) == [FastJWTAuthentication]
        and list(SeckillBuyApi.permission_classes) == [IsAuthenticated]
        and not list(SeckillBuyApi.throttle_classes)
    )
    return view_with_early_answer(SeckillBuyApi, _early_refusal, method="POST", set_up_as_assumed=set_up_as_assumed)


def _early_refusal(request, *args, **kwargs):
    return _refusal(request) if settings.SECKILL_BEFORE_DRF else None


def _refusal(request):
    """The refusal the DRF view would answer, or None (then the DRF view decides; a request that passed the checks
    carries their result as `purchase_checked`)."""
    started = time.perf_counter()
    meta = request.META
    if "HTTP_IDEMPOTENCY_KEY" in meta:  # a keyed request may be a replay: it must reach its first outcome
        return None
    user_id = fast_user_id(meta.get(jwt_settings.AUTH_HEADER_NAME))
    if user_id is None:
        return None
    fields = _plain_body(request)
    if fields is None:
        return None
    try:
        ip = guards.purchase_guard(user_id=user_id, meta=meta)
    except SeckillError:
        return None
    try:
        sale_check_cached(**fields)
    except SeckillError as error:
        metrics.purchase_answered(error.code, started, fields["product_id"])
        return error_response(error)
    # Not refused here: the DRF view takes the caller, address and fields checked above instead of checking again.
    request.purchase_checked = (user_id, ip, fields)
    return None


def _plain_body(request) -> dict | None:
    """The fields of a JSON body of the plain shape (apis.plain_input), within SECKILL_MAX_BODY_BYTES, else None."""
    if request.content_type != "application/json":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= settings.SECKILL_MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(request.body.decode("utf-8"))  # read once: DRF parses the same bytes if it must
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return plain_input(data)
