"""recipe.processing: the derived fields the background task writes."""

from __future__ import annotations

import pytest

from recipe.processing import derived_fields, estimated_minutes, ingredient_lines


def test_ingredient_lines_are_the_non_blank_lines_stripped():
    text = "  2 eggs \n\n200 g flour\r\n   \n1 pinch salt\n"

    assert ingredient_lines(text) == ["2 eggs", "200 g flour", "1 pinch salt"]


def test_no_ingredients_is_an_empty_list():
    assert ingredient_lines("") == []
    assert ingredient_lines("\n  \n") == []


@pytest.mark.parametrize(
    ("instructions", "minutes"),
    [
        ("Boil for 10 minutes.", 10),
        ("Fry 8 minutes, then simmer 1 minute, then 15 mins more.", 24),
        ("Braise for 3 hours.", 180),
        ("Roast 1 hour 20 minutes, rest 15 min.", 95),
        ("Prove 2 hrs; bake 25 MINUTES.", 145),
        ("Chill 1 hr.", 60),
    ],
)
def test_estimated_minutes_adds_up_every_time_mentioned(instructions, minutes):
    assert estimated_minutes(instructions) == minutes


@pytest.mark.parametrize(
    "instructions", ["", "Toss and serve.", "Cook 2 minutes.", "Stir 0 minutes."]
)
def test_estimated_minutes_is_at_least_five(instructions):
    assert estimated_minutes(instructions) == 5


def test_numbers_that_are_not_times_are_ignored():
    assert estimated_minutes("Bake at 180 C with 3 eggs for 40 minutes.") == 40


def test_derived_fields_of_a_recipe():
    fields = derived_fields(
        "Crème Brûlée: the classic!",
        "500 ml cream\n5 yolks\n\n75 g sugar",
        "Bake at 150 C for 35 minutes. Chill 4 hours.",
    )

    assert fields == {
        "ingredient_count": 3,
        "word_count": 10,
        "estimated_minutes": 275,
        "slug": "creme-brulee-the-classic",
    }


def test_the_slug_fits_the_field():
    fields = derived_fields("x" * 300, "a", "b")

    assert fields["slug"] == "x" * 220
