from django import forms
from django.contrib import admin
from django.utils import timezone

from seckill import access
from seckill.errors import SeckillError
from seckill.models import BlacklistEntry, Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "product", "quantity", "unit_price", "status", "created_at", "request_id")
    list_filter = ("product", "status")
    search_fields = ("user__username", "user__email", "=user__id", "=request_id")
    list_select_related = ("user", "product")
    raw_id_fields = ("user", "product")
    readonly_fields = ("request_id", "user", "product", "quantity", "unit_price", "status", "created_at")

    # Orders are made by the logic layer only: the admin reads them.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BlacklistEntryForm(forms.ModelForm):
    class Meta:
        model = BlacklistEntry
        fields = ("kind", "value", "reason", "expires_at")

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("value"):
            try:
                data["value"] = access.blacklist_normalize(data["kind"], data["value"])
            except SeckillError as error:
                raise forms.ValidationError({"value": (error.errors or {}).get("value", [error.detail])})
        return data


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(admin.ModelAdmin):
    form = BlacklistEntryForm
    list_display = ("kind", "value", "reason", "expires_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("value", "reason")

    # Through the service, so that Redis (and every web process within a second) learns of the change.
    def save_model(self, request, obj, form, change):
        ttl = None
        if obj.expires_at is not None:
            ttl = max(1, int((obj.expires_at - timezone.now()).total_seconds()))
        if change and {"kind", "value"} & set(form.changed_data):
            old = BlacklistEntry.objects.get(pk=obj.pk)
            access.blacklist_remove(kind=old.kind, value=old.value)
        saved = access.blacklist_add(kind=obj.kind, value=obj.value, ttl_seconds=ttl, reason=obj.reason)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        access.blacklist_remove(kind=obj.kind, value=obj.value)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            access.blacklist_remove(kind=entry.kind, value=entry.value)
