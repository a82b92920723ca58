"""The recipe API, mounted under /api/ next to taskqueue.urls."""

from django.urls import path

from recipe import views

app_name = "recipe"

urlpatterns = [
    path("recipes/<int:recipe_id>/process/", views.process, name="process"),
    path("tasks/", views.create_task, name="create-task"),
]
