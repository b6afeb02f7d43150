from django.contrib import admin, messages

from products import selectors, services
from products.models import Product
from seckill.errors import SeckillError

EDITABLE = ("name", "price", "stock_total", "per_user_limit", "start_time", "end_time", "is_enabled")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "id", "name", "price", "stock_total", "stock_left", "live_stock_left", "status", "start_time", "end_time",
        "is_enabled",
    )
    list_filter = ("is_enabled",)
    search_fields = ("name",)
    fields = (*EDITABLE, "stock_left", "live_stock_left", "created_at", "updated_at")
    readonly_fields = ("stock_left", "live_stock_left", "created_at", "updated_at")

    @admin.display(description="stock left (live)")
    def live_stock_left(self, product: Product):
        if product.pk is None:
            return "-"
        return selectors.product_attach_live_stock([product])[0].stock_left_live

    @admin.display(description="status")
    def status(self, product: Product):
        live = selectors.product_attach_live_stock([product])[0].stock_left_live
        return selectors.product_status(product=product, stock_left=live).label

    def save_model(self, request, obj, form, change):
        # The admin goes through the same services as the API: stock edits are deltas on the live counter.
        try:
            if change:
                changes = {field: form.cleaned_data[field] for field in form.changed_data if field in EDITABLE}
                saved = services.product_update(product=Product.objects.get(pk=obj.pk), **changes)
            else:
                saved = services.product_create(**{field: form.cleaned_data[field] for field in EDITABLE})
        except SeckillError as error:
            self.message_user(request, f"Not saved: {error.detail}", messages.ERROR)
            if change:
                obj.refresh_from_db()
            return
        obj.pk = saved.pk
        obj.stock_left = saved.stock_left

    def delete_model(self, request, obj):
        services.product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        for product in queryset:
            services.product_delete(product=product)
