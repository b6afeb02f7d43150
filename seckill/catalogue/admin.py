import redis
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from products.errors import ProductNotFound
from products.models import Product
from seckill.catalogue import services as catalogue_services
from seckill.models import Draw
from seckill.ops import live, reconcile
from seckill_site.errors import SeckillError

EDITABLE = ("name", "price", "stock_total", "per_user_limit", "start_time", "end_time", "is_enabled", "gate_buckets")
EDITABLE += ("anti_bot", "challenge_cost", "path_lead_seconds", "max_admissions_per_second")
EDITABLE += ("sale_mode", "waitlist_until")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "price",
        "stock_total",
        "stock_left",
        "live_stock_left",
        "sold",
        "status",
        "start_time",
        "end_time",
        "is_enabled",
        "drift",
        "live_link",
    )
    list_filter = ("is_enabled",)
    search_fields = ("name",)
    fields = (*EDITABLE, "draw_record", "stock_left", "live_stock_left", "created_at", "updated_at")
    readonly_fields = ("draw_record", "stock_left", "live_stock_left", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # Its buckets and sale mode are set before the sale (catalogue_services.product_update refuses them after).
        started = obj is not None and obj.start_time <= timezone.now()
        return (*self.readonly_fields, "gate_buckets", "sale_mode") if started else self.readonly_fields

    @admin.display(description="draw")
    def draw_record(self, product: Product):
        """A draw's commitment, and its figures once held (seckill/draws/)."""
        found = Draw.objects.filter(product_id=product.pk).first() if product.pk else None
        if found is None:
            return "-"
        if found.drawn_at is None:
            lost = (
                " Redis lost its data during the entries: the draw waits (docs/draw.md)." if found.gate_lost_at else ""
            )
            return f"seed SHA-256 {found.seed_sha256}; drawn at the end.{lost}"
        return (
            f"drawn {found.drawn_at:%Y-%m-%d %H:%M:%S} in {found.draw_seconds:.2f} s: {found.entries_count} entries, "
            f"{found.winners} winners; list SHA-256 {found.entries_digest}"
        )

    @admin.display(description="stock left (live)")
    def live_stock_left(self, product: Product):
        if product.pk is None:
            return "-"
        return catalogue_services.product_attach_live_stock([product])[0].stock_left_live

    @admin.display(description="sold")
    def sold(self, product: Product):
        """Units in orders (the ledger's figure: stock_total - stock_left)."""
        return product.stock_total - product.stock_left

    @admin.display(description="status")
    def status(self, product: Product):
        return catalogue_services.product_status_live(catalogue_services.product_attach_live_stock([product])[0]).label

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

    @admin.display(description="live")
    def live_link(self, product: Product):
        return format_html('<a href="{}">live</a>', reverse("admin:products_product_live", args=[product.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view  # staff only, like every admin page
        # The reading changes nothing: a GET only (405 otherwise, not the CSRF check's 403). `str`, not `int`: any
        # other id is this view's 404, not the admin's redirect of unknown paths (docs/admin-openapi.yaml).
        reading = csrf_exempt(require_GET(self.live_reading_view))
        return [
            path("<str:object_id>/live/", view(self.live_view), name="products_product_live"),
            path("<str:object_id>/live/reading/", view(reading), name="products_product_live_reading"),
            *super().get_urls(),
        ]

    def live_view(self, request, object_id: str):
        """The live sale page: charts of the readings the page fetches from live_reading_view every second."""
        product = self._viewable(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": product,
            "title": f"Live: {product.name}",
            "reading_url": reverse("admin:products_product_live_reading", args=[product.pk]),
        }
        return TemplateResponse(request, "admin/products/product/live.html", context)

    def live_reading_view(self, request, object_id: str):
        product = self._viewable(request, object_id)
        try:
            reading = live.product_live_reading(product_id=product.pk)
        except ProductNotFound:
            raise Http404 from None
        return JsonResponse(reading)  # (admin_view marks it never_cache)

    def _viewable(self, request, object_id: str) -> Product:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not object_id.isascii() or not object_id.isdigit() or len(object_id) > 18:
            raise Http404
        product = self.get_object(request, object_id)
        if product is None:
            raise Http404
        return product

    @admin.action(description="Reconcile Redis with the ledger (repair by deltas)", permissions=["change"])
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
                saved = catalogue_services.product_update(product=Product.objects.get(pk=obj.pk), **changes)
            else:
                saved = catalogue_services.product_create(**{field: form.cleaned_data[field] for field in EDITABLE})
        except SeckillError as error:
            self.message_user(request, f"Not saved: {error.detail}", messages.ERROR)
            if change:
                obj.refresh_from_db()
            return
        obj.pk = saved.pk
        obj.stock_left = saved.stock_left

    def delete_model(self, request, obj):
        catalogue_services.product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        for product in queryset:
            catalogue_services.product_delete(product=product)
