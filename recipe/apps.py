from django.apps import AppConfig


class RecipeConfig(AppConfig):
    name = "recipe"
    default_auto_field = "django.db.models.BigAutoField"
