from django.contrib import admin

from seckill.models import PaymentEvent


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "order_ref", "amount", "provider_status", "code", "needs_refund", "received_at")
    list_filter = ("needs_refund", "code")
    search_fields = ("=event_id", "=order_ref")
    readonly_fields = (
        "event_id",
        "order",
        "order_ref",
        "amount",
        "provider_status",
        "code",
        "needs_refund",
        "received_at",
    )
    fields = (*readonly_fields, "refunded_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
