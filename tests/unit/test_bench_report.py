"""The benchmark's arithmetic: option costs against the same repeat's no-op,
and a task's times read from its result record (bench/records.py)."""

from __future__ import annotations

from bench import records, report


def _repeat(noop_run: float, unique_run: float) -> dict:
    return {
        "options": {
            "noop": {"run": noop_run, "enqueue": 50.0, "enqueue_many": 3.0},
            "noop_unique": {"run": unique_run, "enqueue": 150.0, "enqueue_many": 15.0},
            "noop_rated": {"ok": False, "error": "worker failed"},
        }
    }


def test_option_cost_is_the_difference_to_the_no_op_of_the_same_repeat() -> None:
    # Repeat 2 is slower overall; its delta must be taken against its own no-op.
    results = {
        "repeats": [_repeat(40.0, 44.0), _repeat(60.0, 66.0), _repeat(50.0, 55.0)]
    }
    costs = report.option_costs(results)
    assert costs["noop_unique"]["run_delta"] == {"median": 5.0, "min": 4.0, "max": 6.0}
    assert costs["noop_unique"]["run_pct"]["median"] == 10.0
    assert costs["noop_unique"]["enqueue_delta"]["median"] == 100.0
    assert costs["noop_rated"]["run_delta"] is None  # failed everywhere: n/a
    text = report.options_table(costs)
    assert "| `unique_for` | +5.0 (+4.0 to +6.0) | +10 |" in text
    assert "| `rate_limit` (never limiting) | n/a | n/a |" in text


def test_no_option_table_without_option_runs() -> None:
    assert report.options_table(report.option_costs({"repeats": [{}]})) == ""


def test_record_times_fall_back_to_the_span() -> None:
    span = b"host.1.abc 100.25 100.75"
    assert records.start(None, span) == 100.25
    assert records.finish(None, span) == 100.75
    assert records.start(b"99.5", span) == 99.5  # the claim's stamp comes first
    assert records.finish(b"101.0", span) == 101.0
    assert records.start(None, None) is None
    assert records.finish(None, None) is None
