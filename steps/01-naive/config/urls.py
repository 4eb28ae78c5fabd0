from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from crm.views import CustomerViewSet, health

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = [
    path("api/health/", health, name="health"),
    path("api/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("api/", include(router.urls)),
    # Swagger UI's assets. A route rather than WhiteNoise's middleware: the middleware
    # is sync-only and would put a thread hop in front of every API request under ASGI.
    path("static/<path:path>", serve_static, {"insecure": True}),
]

handler400 = "crm.errors.bad_request"
handler404 = "crm.errors.not_found"
handler500 = "crm.errors.server_error"
