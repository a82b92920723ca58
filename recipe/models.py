"""The demo model: recipes that get processed in the background."""

from __future__ import annotations

from django.db import models


class Recipe(models.Model):
    name = models.CharField(max_length=200)
    ingredients = models.TextField(help_text="One ingredient per line.")
    instructions = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Filled in by recipe.tasks.process_recipe.
    ingredient_count = models.PositiveIntegerField(null=True, blank=True)
    word_count = models.PositiveIntegerField(null=True, blank=True)
    estimated_minutes = models.PositiveIntegerField(null=True, blank=True)
    slug = models.SlugField(max_length=220, blank=True)
    processed_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_processed(self) -> bool:
        return self.processed_at is not None
