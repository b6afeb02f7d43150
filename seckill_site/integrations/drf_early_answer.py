"""DRF's request handling skipped for the answers a view would give from a process' cached state.

Changes: a DRF view wrapped so that an answer made before DRF's dispatch (its request wrapping, negotiation,
authentication, permission and throttle steps) is returned as the DRF view's own, with the Allow header DRF's
`finalize_response` adds; everything else reaches the DRF view.
Why: that dispatch is a large share of a sold-out answer's CPU (measured: docs/benchmark-log.md, "Refusals before
DRF").
Off: every request goes through DRF (the same answers; tests/integration/test_before_drf.py compares them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

from seckill_site import integrations
from seckill_site.authentication import FastJWTAuthentication

TESTED = {"djangorestframework": ("3.18.3",)}


def view_with_early_answer(view_class, answer: Callable, *, method: str, set_up_as_assumed: bool):
    """`view_class.as_view()`, answered first, for `method` requests, by `answer(request, *args, **kwargs)`: a
    response is returned as the view's (DRF skipped); None, or any exception, lets the DRF view answer. Only when
    the view is set up as `answer` assumes (`set_up_as_assumed`: its authentication, permission and throttles) and
    DRF is a tested version; otherwise the DRF view alone."""
    drf_view = view_class.as_view()
    if not set_up_as_assumed or not integrations.allowed(__name__, TESTED):
        return drf_view
    allow = _allow_header(view_class)

    @functools.wraps(drf_view)  # keeps csrf_exempt and the class for the URL resolver and the OpenAPI schema
    def view(request, *args, **kwargs):
        if request.method == method:
            try:
                response = answer(request, *args, **kwargs)
            except Exception:  # anything unexpected is the DRF view's to answer (and log), as it would be
                response = None
            if response is not None:
                response["Allow"] = allow
                return response
        return drf_view(request, *args, **kwargs)

    return view


def is_fast_buyer_json_view(view_class) -> bool:
    """Whether a DRF view is set up as an answer before DRF for a buyer assumes (the purchase's, the path's): the
    fast token check, authenticated callers, no throttle, JSON only."""
    return (
        list(view_class.authentication_classes) == [FastJWTAuthentication]
        and list(view_class.permission_classes) == [IsAuthenticated]
        and not list(view_class.throttle_classes)
        and list(view_class.renderer_classes) == [JSONRenderer]
    )


def _allow_header(view_class) -> str:
    """The Allow header DRF's finalize_response adds: the view's methods, HEAD too when it has GET (View.setup)."""
    view = view_class()
    view.setup(None)
    return ", ".join(view.allowed_methods)
