"""The derived fields of a recipe: pure functions, easy to test."""

from __future__ import annotations

import re

from django.utils.text import slugify

MINUTES_RE = re.compile(r"(\d+)\s*(?:minutes?|mins?)\b", re.IGNORECASE)
HOURS_RE = re.compile(r"(\d+)\s*(?:hours?|hrs?)\b", re.IGNORECASE)


def ingredient_lines(ingredients: str) -> list[str]:
    return [line.strip() for line in ingredients.splitlines() if line.strip()]


def estimated_minutes(instructions: str) -> int:
    """Sum of the times the instructions mention (at least 5 minutes)."""
    minutes = sum(int(m) for m in MINUTES_RE.findall(instructions))
    minutes += 60 * sum(int(h) for h in HOURS_RE.findall(instructions))
    return max(5, minutes)


def derived_fields(name: str, ingredients: str, instructions: str) -> dict[str, object]:
    return {
        "ingredient_count": len(ingredient_lines(ingredients)),
        "word_count": len(instructions.split()),
        "estimated_minutes": estimated_minutes(instructions),
        "slug": slugify(name)[:220],
    }
