from django import forms
from django.contrib import admin
from django.utils import timezone

from seckill.access import blacklist
from seckill.models import BlacklistEntry
from seckill_site.errors import SeckillError


class BlacklistEntryForm(forms.ModelForm):
    class Meta:
        model = BlacklistEntry
        fields = ("kind", "value", "reason", "expires_at")

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("value"):
            try:
                data["value"] = blacklist.blacklist_normalize(data["kind"], data["value"])
            except SeckillError as error:
                raise forms.ValidationError({"value": (error.errors or {}).get("value", [error.detail])}) from None
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
            blacklist.blacklist_remove(kind=old.kind, value=old.value)
        saved = blacklist.blacklist_add(kind=obj.kind, value=obj.value, ttl_seconds=ttl, reason=obj.reason)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        blacklist.blacklist_remove(kind=obj.kind, value=obj.value)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            blacklist.blacklist_remove(kind=entry.kind, value=entry.value)
