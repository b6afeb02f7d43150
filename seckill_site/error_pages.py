"""Django-level error pages for the API: JSON with `code` and `detail`, like every other API answer."""

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "No such endpoint."}, status=404)
    return page_not_found(request, exception)


def internal_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "internal_error", "detail": "Internal server error."}, status=500)
    return server_error(request)
