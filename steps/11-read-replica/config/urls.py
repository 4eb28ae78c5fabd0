from django.contrib.staticfiles.views import serve as serve_static
from django.urls import path

from crm.api.app import api
from crm.api.health import health

urlpatterns = [
    path("api/health/", health, name="health"),
    path("api/", api.urls),
    # Swagger UI's assets. A route rather than WhiteNoise's middleware: the middleware
    # is sync-only and would put a thread hop in front of every API request under ASGI.
    path("static/<path:path>", serve_static, {"insecure": True}),
]

handler400 = "crm.api.errors.bad_request"
handler404 = "crm.api.errors.not_found"
handler500 = "crm.api.errors.server_error"
