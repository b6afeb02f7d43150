from django.contrib import admin

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


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(admin.ModelAdmin):
    list_display = ("kind", "value", "reason", "expires_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("value", "reason")
    fields = ("kind", "value", "reason", "expires_at")

    # Through the service, so that Redis (and every web process within a second) learns of the change.
    def save_model(self, request, obj, form, change):
        ttl = None
        if obj.expires_at is not None:
            from django.utils import timezone

            ttl = max(1, int((obj.expires_at - timezone.now()).total_seconds()))
        try:
            if change and "value" in form.changed_data or change and "kind" in form.changed_data:
                old = BlacklistEntry.objects.get(pk=obj.pk)
                access.blacklist_remove(kind=old.kind, value=old.value)
            saved = access.blacklist_add(kind=obj.kind, value=obj.value, ttl_seconds=ttl, reason=obj.reason)
        except SeckillError as error:
            from django.contrib import messages

            self.message_user(request, f"Not saved: {error.errors or error.detail}", messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        access.blacklist_remove(kind=obj.kind, value=obj.value)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            access.blacklist_remove(kind=entry.kind, value=entry.value)
