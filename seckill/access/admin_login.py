"""The admin's login page, throttled like POST /api/auth/token/ (seckill.access.logins): failed logins per user name
and address and per address; a name alone is only slowed down. Over a limit the page answers 429 with its form and
a message that says when to try again. With Redis down it lets the operator in unthrottled (and logs it): the admin
is where an outage is looked into."""

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.urls import path

from seckill.access.guards import client_ip
from seckill.access.logins import login_attempt
from seckill_site.errors import RateLimited

THROTTLED = "throttled"


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username")
        if not username or self.cleaned_data.get("password") is None:
            return super().clean()  # (a missing field: nothing tried, nothing counted)
        try:
            return login_attempt(
                username=username,
                ip=client_ip(self.request.META),
                attempt=super().clean,
                failures=(forms.ValidationError,),
                unthrottled_without_redis=True,  # the operator must reach the admin during a Redis outage
            )
        except RateLimited as refusal:
            self.retry_after = refusal.retry_after
            raise forms.ValidationError(
                f"Too many failed logins: try again in {refusal.retry_after} s.", code=THROTTLED
            ) from None


def login_view(request, **kwargs):
    """admin.site.login, answering 429 (with Retry-After) when the form was refused by the throttle."""
    response = admin.site.login(request, **kwargs)
    form = getattr(response, "context_data", {}).get("form") if hasattr(response, "context_data") else None
    if form is not None and any(error.code == THROTTLED for error in form.non_field_errors().as_data()):
        response.status_code = 429
        response["Retry-After"] = str(getattr(form, "retry_after", 1))
    return response


admin.site.login_form = ThrottledAdminLoginForm
urlpatterns = [path("", login_view)]  # (included by the root URLconf before the admin's own URLs)
