"""The orders' admin: orders (read, cancel, export as CSV) and the payment provider's events (refunds to make)."""

import csv

from django.contrib import admin, messages
from django.core import signing
from django.http import StreamingHttpResponse
from django.utils import timezone

from seckill.access.purchase_tokens import purchase_token_verify
from seckill.models import Order, PaymentEvent
from seckill.orders import selectors
from seckill.orders import services as order_services
from seckill_site.errors import SeckillError


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "product", "quantity", "unit_price", "status", "pay_by", "created_at", "request_id")
    list_filter = ("status", "product", "created_at")
    date_hierarchy = "created_at"  # any year, month or day, beside the filter's recent ranges
    search_fields = ("user__username", "user__email", "=user__id", "=request_id")
    list_select_related = ("user", "product")
    raw_id_fields = ("user", "product")
    readonly_fields = (
        "request_id",
        "user",
        "product",
        "quantity",
        "unit_price",
        "status",
        "created_at",
        "pay_by",
        "paid_at",
        "closed_at",
        "gate_released",
    )
    actions = ["cancel_unpaid", "export_csv"]
    search_help_text = "User name, e-mail or id, request id, or a purchase token"

    # Orders are made by the logic layer and change only through its services: the admin reads them, and
    # cancels (never deletes: the ledger's stock and the one-order rule count them).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        """A purchase token names its order: a valid one finds that order (a forged one finds nothing)."""
        term = search_term.strip()
        if term.count(":") == 3:
            try:
                claim = purchase_token_verify(term)
            except signing.BadSignature:
                return queryset.none(), False
            return queryset.filter(pk=claim.order_id, user_id=claim.user_id, product_id=claim.product_id), False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description="Export the selected orders as CSV (all pages: select all first)")
    def export_csv(self, request, queryset):
        """Streamed row by row from a server-side cursor: 100,000 orders in constant memory."""

        class Echo:  # csv.writer writes to it; each row comes back as one chunk of the response
            def write(self, value):
                return value

        writer = csv.writer(Echo())
        rows = (writer.writerow(row) for row in selectors.orders_csv_rows(queryset))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="order_services.csv"'
        return response

    def has_cancel_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.cancel_order")

    @admin.action(description="Cancel the selected unpaid orders (their units go back on sale)", permissions=["cancel"])
    def cancel_unpaid(self, request, queryset):
        cancelled, refused = 0, []
        for order_id in queryset.values_list("pk", flat=True):
            try:
                order_services.order_cancel(order_id=order_id)
                cancelled += 1
            except SeckillError as error:
                refused.append(f"#{order_id}: {error.detail}")
        self.message_user(request, f"{cancelled} cancelled.")
        if refused:
            self.message_user(request, "Not cancelled: " + "; ".join(refused), messages.WARNING)


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
