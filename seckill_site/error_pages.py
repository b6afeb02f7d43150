"""Django-level error pages for the API: JSON with `code` and `detail`, like every other API answer."""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.defaults import bad_request, page_not_found, server_error


def bad_request_page(request, exception=None):
    """Django's 400 (a refused Host header, a body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF...)."""
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"code": "payload_too_large", "detail": "The request body is too large."}, status=413)
        return JsonResponse({"code": "invalid_request", "detail": "The request is malformed."}, status=400)
    return bad_request(request, exception)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "No such endpoint."}, status=404)
    return page_not_found(request, exception)


def internal_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "internal_error", "detail": "Internal server error."}, status=500)
    return server_error(request)
