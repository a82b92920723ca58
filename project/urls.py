"""URLs of the demo site: the admin, the JSON API, the health check and metrics."""

from django.contrib import admin
from django.urls import include, path, re_path

from taskqueue import api
from taskqueue.admin import dashboard_urls
from taskqueue.metrics import metrics_view

urlpatterns = [
    path("admin/queues/", include(dashboard_urls())),
    path("admin/", admin.site.urls),
    path("api/", include("recipe.urls")),
    path("api/", include("taskqueue.urls")),
    re_path(r"^api/", api.not_found),  # every other /api/ path: JSON 404
    path("healthz", api.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]
