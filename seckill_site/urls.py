from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from seckill_site.views import ServerTimeApi, index

urlpatterns = [
    path("api/seckill/", include("seckill.purchases.urls")),  # the purchase first (the others pay one failed match)
    path("api/seckill/", include("seckill.antibot.urls")),
    path("admin/login/", include("seckill.access.admin_login")),  # the admin's login, throttled (429 over a limit)
    path("admin/", admin.site.urls),
    path("api/time/", ServerTimeApi.as_view(), name="server-time"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/products/", include("seckill.catalogue.urls")),
    path("api/", include("seckill.draws.urls")),
    path("api/", include("seckill.access.urls")),
    path("api/", include("seckill.orders.urls")),
    path("", include("seckill.ops.urls")),
    path("", include("seckill.shop.urls")),
    path("", index, name="index"),
]

handler400 = "seckill_site.error_pages.bad_request_page"
handler404 = "seckill_site.error_pages.not_found"
handler500 = "seckill_site.error_pages.internal_error"
