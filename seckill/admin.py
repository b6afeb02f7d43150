import redis
from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from products.models import Product
from seckill import blacklist, catalogue, orders, reconcile
from seckill.models import BlacklistEntry, Order, PaymentEvent
from seckill_site.errors import SeckillError


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "product", "quantity", "unit_price", "status", "pay_by", "created_at", "request_id")
    list_filter = ("status", "product", "created_at")
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
    actions = ["cancel_unpaid"]

    # Orders are made by the logic layer and change only through its services: the admin reads them, and
    # cancels (never deletes: the ledger's stock and the one-order rule count them).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel the selected unpaid orders (their units go back on sale)")
    def cancel_unpaid(self, request, queryset):
        cancelled, refused = 0, []
        for order_id in queryset.values_list("pk", flat=True):
            try:
                orders.order_cancel(order_id=order_id)
                cancelled += 1
            except SeckillError as error:
                refused.append(f"#{order_id}: {error.detail}")
        self.message_user(request, f"{cancelled} cancelled.")
        if refused:
            self.message_user(request, "Not cancelled: " + "; ".join(refused), messages.WARNING)


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


EDITABLE = ("name", "price", "stock_total", "per_user_limit", "start_time", "end_time", "is_enabled")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "price",
        "stock_total",
        "stock_left",
        "live_stock_left",
        "status",
        "start_time",
        "end_time",
        "is_enabled",
        "drift",
    )
    list_filter = ("is_enabled",)
    search_fields = ("name",)
    fields = (*EDITABLE, "stock_left", "live_stock_left", "created_at", "updated_at")
    readonly_fields = ("stock_left", "live_stock_left", "created_at", "updated_at")

    @admin.display(description="stock left (live)")
    def live_stock_left(self, product: Product):
        if product.pk is None:
            return "-"
        return catalogue.product_attach_live_stock([product])[0].stock_left_live

    @admin.display(description="status")
    def status(self, product: Product):
        return catalogue.product_status_live(catalogue.product_attach_live_stock([product])[0]).label

    @admin.display(description="Redis vs ledger")
    def drift(self, product: Product):
        """The last reconciliation's finding (beat checks every product each minute)."""
        try:
            report = reconcile.reconcile_reports([product.pk])[product.pk]
        except redis.RedisError:
            return "Redis unreachable"
        if report is None:
            return "not checked yet"
        found = [d for d in report["drift"] if d["check"] != "not_loaded"]
        if not found:
            return "agree"
        return "; ".join(f"{d['check']}{' (fixed)' if d['fixed'] else ''}" for d in found)

    @admin.action(description="Reconcile Redis with the ledger (repair by deltas)")
    def reconcile_fix(self, request, queryset):
        repaired = 0
        for product_id in queryset.values_list("pk", flat=True):
            repaired += sum(1 for d in reconcile.reconcile_all(product_id=product_id, fix=True)[product_id] if d.fixed)
        self.message_user(request, f"{queryset.count()} products reconciled, {repaired} repairs made.")

    actions = ["reconcile_fix"]

    def save_model(self, request, obj, form, change):
        # The admin goes through the same catalogue services as the API: stock edits are deltas on the live counter.
        try:
            if change:
                changes = {field: form.cleaned_data[field] for field in form.changed_data if field in EDITABLE}
                saved = catalogue.product_update(product=Product.objects.get(pk=obj.pk), **changes)
            else:
                saved = catalogue.product_create(**{field: form.cleaned_data[field] for field in EDITABLE})
        except SeckillError as error:
            self.message_user(request, f"Not saved: {error.detail}", messages.ERROR)
            if change:
                obj.refresh_from_db()
            return
        obj.pk = saved.pk
        obj.stock_left = saved.stock_left

    def delete_model(self, request, obj):
        catalogue.product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        for product in queryset:
            catalogue.product_delete(product=product)
