from django.contrib import admin

from seckill.models import Order


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
