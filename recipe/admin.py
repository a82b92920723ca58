"""Admin for recipes: what a user types in, and what processing filled in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recipe.models import Recipe
from recipe.tasks import process_recipe
from taskqueue import enqueuer
from taskqueue.backends import enqueue_many
from taskqueue.exceptions import BrokerUnavailable

if TYPE_CHECKING:
    RecipeModelAdmin = admin.ModelAdmin[Recipe]
else:  # ModelAdmin is only subscriptable for the type checker
    RecipeModelAdmin = admin.ModelAdmin

DERIVED_FIELDS = (
    "ingredient_count",
    "word_count",
    "estimated_minutes",
    "slug",
    "processed_count",
    "processed_at",
)


@admin.register(Recipe)
class RecipeAdmin(RecipeModelAdmin):
    list_display = (
        "name",
        "ingredient_count",
        "estimated_minutes",
        "processed_count",
        "processed_at",
        "processed",
    )
    search_fields = ("name", "ingredients")
    list_filter = ("processed_at", "created_at")
    # Derived fields are written only by recipe.tasks.process_recipe.
    readonly_fields = ("created_at", *DERIVED_FIELDS)
    fieldsets = (
        (None, {"fields": ("name", "ingredients", "instructions")}),
        ("Processing", {"fields": ("created_at", *DERIVED_FIELDS)}),
    )
    actions: list[Any] = ["process_in_background"]

    @admin.action(
        description="Process selected recipes in the background",
        permissions=["change"],
    )
    def process_in_background(
        self, request: HttpRequest, queryset: QuerySet[Recipe]
    ) -> None:
        """Queue every selected recipe in one Redis round trip, on commit."""
        ids = list(queryset.values_list("pk", flat=True))
        try:
            with enqueuer.acting_for(request.user):
                enqueue_many(process_recipe, [((), {"recipe_id": pk}) for pk in ids])
        except BrokerUnavailable:
            self.message_user(
                request, "Redis is unavailable; nothing was queued.", messages.ERROR
            )
            return
        self.message_user(
            request, f"Queued {len(ids)} recipes for processing", messages.SUCCESS
        )

    @admin.display(boolean=True, description="processed", ordering="processed_at")
    def processed(self, obj: Recipe) -> bool:
        return obj.is_processed
