from django.contrib import admin
from django.utils import timezone

from seckill.models import PaymentEvent


class RefundFilter(admin.SimpleListFilter):
    """Money received that paid no order: to refund, or refunded."""

    title = "refund"
    parameter_name = "refund"

    def lookups(self, request, model_admin):
        return [("due", "to refund"), ("done", "refunded")]

    def queryset(self, request, queryset):
        if self.value() == "due":
            return queryset.filter(needs_refund=True, refunded_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(needs_refund=True, refunded_at__isnull=False)
        return queryset


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "order_ref",
        "amount",
        "provider_status",
        "paid_at",
        "code",
        "needs_refund",
        "refunded_at",
        "received_at",
    )
    list_filter = (RefundFilter, "needs_refund", "code")
    search_fields = ("=event_id", "=order_ref")
    readonly_fields = (
        "event_id",
        "order",
        "order_ref",
        "amount",
        "provider_status",
        "paid_at",
        "code",
        "needs_refund",
        "received_at",
    )
    fields = (*readonly_fields, "refunded_at")
    actions = ["mark_refunded"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Mark the selected payments refunded (after refunding them with the provider)",
        permissions=["change"],
    )
    def mark_refunded(self, request, queryset):
        marked = queryset.filter(needs_refund=True, refunded_at__isnull=True).update(refunded_at=timezone.now())
        self.message_user(request, f"{marked} marked refunded.")
