"""URLs of the demo site: a landing page, the admin, the JSON API, health and metrics.

``handler500`` answers JSON under /api/ (for an error outside any API view,
e.g. in a middleware) and Django's page elsewhere.
"""

from django.contrib import admin
from django.urls import include, path, re_path

from project import views
from taskqueue.admin import dashboard_urls
from taskqueue.web import api
from taskqueue.web.metrics import metrics_view

handler500 = "taskqueue.web.api.server_error"

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/queues/", include(dashboard_urls())),
    path("admin/", admin.site.urls),
    path("api/", include("recipe.urls")),
    path("api/", include("taskqueue.urls")),
    re_path(r"^api/", api.not_found),  # every other /api/ path: JSON 404
    path("healthz", api.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]
