"""The two answers most requests of a sale get, given before DRF handles the request: DRF's request wrapping,
negotiation, authentication and permission steps cost about a quarter of such an answer.

- POST /api/seckill/: a refusal from this process' cached sale state (sold out, not started, ended, disabled, not
  enough stock, unknown product), for a request the DRF view (apis.SeckillBuyApi) would refuse the same way: a
  Bearer token the fast check of seckill_site.authentication accepts, no Idempotency-Key, a JSON body of the plain
  shape, past the guards.
- GET /api/products/<id>/: the product page a crowd refreshes (product_apis.product_page, which the DRF view
  answers with too), for a product this process knows; a GET reads no user there either.

Each answer is the DRF view's: the same body, status and headers, counted in the same metrics. Everything else,
every error included, goes to the DRF view, which checks it all again; only a purchase that passed every check
here and was not refused carries their result (`purchase_checked`: the caller, address and fields), which the
view takes instead of checking twice. SECKILL_BEFORE_DRF=0 sends every request to the DRF views.
"""

from __future__ import annotations

import functools
import json
import time

from django.conf import settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from seckill.access import guards
from seckill.catalogue.api import ProductDetailApi, ReadOrModelPermissions, product_page
from seckill.ops import metrics
from seckill.purchases.api import SeckillBuyApi, plain_input
from seckill.purchases.sale_cache import sale_check_cached
from seckill_site.authentication import FastJWTAuthentication, fast_user_id
from seckill_site.errors import SeckillError
from seckill_site.exception_handler import error_response


def purchase_view():
    """The view of POST /api/seckill/: the refusals above, then SeckillBuyApi for the rest. Only when the DRF view
    is set up as this module assumes (authentication, permission, no throttle); else the DRF view alone."""
    drf_view = SeckillBuyApi.as_view()
    if (
        list(SeckillBuyApi.authentication_classes) != [FastJWTAuthentication]
        or list(SeckillBuyApi.permission_classes) != [IsAuthenticated]
        or list(SeckillBuyApi.throttle_classes)
    ):
        return drf_view
    allow = _allow_header(SeckillBuyApi)

    @functools.wraps(drf_view)  # keeps csrf_exempt and the class for the URL resolver and the OpenAPI schema
    def view(request, *args, **kwargs):
        if request.method == "POST" and settings.SECKILL_BEFORE_DRF:
            try:
                response = _refusal(request)
            except Exception:  # anything unexpected is the DRF view's to answer (and log), as it would be
                response = None
            if response is not None:
                response["Allow"] = allow
                return response
        return drf_view(request, *args, **kwargs)

    return view


def product_page_view():
    """The view of /api/products/<id>/: a GET's page, then ProductDetailApi for the rest (PATCH, errors). Only when
    the DRF view reads no user on a GET and lets anyone read; else the DRF view alone."""
    drf_view = ProductDetailApi.as_view()
    if (
        list(ProductDetailApi.permission_classes) != [ReadOrModelPermissions]
        or list(ProductDetailApi.throttle_classes)
        or ProductDetailApi.perform_authentication is APIView.perform_authentication
    ):
        return drf_view
    allow = _allow_header(ProductDetailApi)

    @functools.wraps(drf_view)
    def view(request, *args, product_id: int, **kwargs):
        if request.method == "GET" and settings.SECKILL_BEFORE_DRF:
            try:
                response = product_page(request, product_id)
            except Exception:  # ProductNotFound, Unavailable...: the DRF view's to answer, as any error
                pass
            else:
                response["Allow"] = allow
                return response
        return drf_view(request, *args, product_id=product_id, **kwargs)

    return view


def _allow_header(view_class) -> str:
    """The Allow header DRF's finalize_response adds: the view's methods, HEAD too when it has GET (View.setup)."""
    view = view_class()
    view.setup(None)
    return ", ".join(view.allowed_methods)


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
