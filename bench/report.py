"""Turn the raw runs into medians and ratios; print them, save JSON, chart, markdown.

Ratios are taken inside each repeat (contender / raw BLPOP loop of the same
repeat), then summarised as median and min-max over the repeats.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench.contenders import ROOT

RESULTS = ROOT / "bench" / "results" / "latest.json"
CHART = ROOT / "docs" / "benchmark.png"
MARKDOWN = ROOT / "docs" / "benchmarks.md"
BASE = "raw BLPOP"


def rate(run: dict[str, Any] | None, _unused: Any = None) -> float | None:
    """Tasks/s from one throughput run's worker-stamped window."""
    if not run or not run.get("ok") or not run.get("elapsed"):
        return None
    busy = run["elapsed"]
    return float(run["n"] / busy) if busy > 0 else None


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def per_repeat(
    rep: dict[str, Any], name: str, workload: str
) -> tuple[float | None, float | None]:
    if workload in ("single", "bulk"):
        mine = rep["enqueue"].get(name, {}).get(workload)
        base = rep["enqueue"].get(BASE, {}).get(workload)
    else:
        mine = rate(rep[workload].get(name))
        base = rate(rep[workload].get(BASE))
    return mine, (mine / base if mine and base else None)


def legacy_pair(rep: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """Legacy producers' rate and its ratio to the same contender's native ORM run."""
    mine = rate(rep.get("legacy", {}).get(name))
    native = rate(rep["orm"].get(name))
    return mine, (mine / native if mine and native else None)


def aggregate(results: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name in results["contenders"]:
        row: dict[str, Any] = {}
        for workload in ("noop", "orm", "single", "bulk"):
            pairs = [per_repeat(rep, name, workload) for rep in results["repeats"]]
            row[workload] = spread([p[0] for p in pairs if p[0]])
            row[f"{workload}_ratio"] = spread([p[1] for p in pairs if p[1]])
        pairs = [legacy_pair(rep, name) for rep in results["repeats"]]
        row["legacy"] = spread([p[0] for p in pairs if p[0]])
        row["legacy_ratio"] = spread([p[1] for p in pairs if p[1]])
        row["redis_us"] = spread(
            [
                rep["noop"][name]["redis_cpu_us"]
                for rep in results["repeats"]
                if rep["noop"].get(name, {}).get("redis_cpu_us")
                and rate(rep["noop"][name])
            ]
        )
        orm_runs = [
            rep[workload].get(name, {})
            for rep in results["repeats"]
            for workload in ("orm", "legacy")
            if workload in rep
        ]
        row["lost"] = sum(r.get("lost", 0) for r in orm_runs)
        row["dup"] = sum(r.get("dup", 0) for r in orm_runs)
        row["orm_checked"] = sum(1 for r in orm_runs if "lost" in r)
        row["idle"] = results["idle"].get(name, {})
        table[name] = row
    return table


def fmt_rate(cell: dict[str, float] | None, ratio: dict[str, float] | None) -> str:
    if not cell:
        return "n/a"
    text = f"{cell['median']:,.0f}"
    if ratio:
        text += f" ({ratio['median']:.2f}x"
        if ratio["min"] != ratio["max"]:
            text += f", {ratio['min']:.2f}-{ratio['max']:.2f}"
        text += ")"
    return text


def fmt(value: Any, pattern: str) -> str:
    return "n/a" if value is None else format(value, pattern)


def scaling(results: dict[str, Any]) -> str:
    """Two processes (prefork -c2) against one (solo) on no-op, per repeat."""
    ratios = []
    for rep in results["repeats"]:
        one = rate(rep["noop"].get("taskqueue"))
        two = rate(rep["noop"].get("taskqueue prefork -c2"))
        if one and two:
            ratios.append(two / one)
    cell = spread(ratios)
    if not cell:
        return ""
    return (
        f"2 processes (`--pool prefork -c 2`) / 1 process (`--pool solo`), no-op: "
        f"**{cell['median']:.2f}x** ({cell['min']:.2f}-{cell['max']:.2f})"
    )


def legacy(results: dict[str, Any]) -> str:
    """taskqueue solo on the old producers' messages against its native ORM run."""
    pairs = [legacy_pair(rep, "taskqueue") for rep in results["repeats"]]
    native = spread(
        [r for rep in results["repeats"] if (r := rate(rep["orm"].get("taskqueue")))]
    )
    mine, ratio = (
        spread([p[0] for p in pairs if p[0]]),
        spread([p[1] for p in pairs if p[1]]),
    )
    if not (mine and ratio and native):
        return ""
    return (
        f'Legacy producers (plain `RPUSH` of `{{"recipe_id": N}}` onto `task_queue`, '
        f"run as LEGACY_TASK), `--pool solo`: {mine['median']:,.0f} tasks/s against "
        f"{native['median']:,.0f} native ORM: **{ratio['median']:.2f}x** "
        f"({ratio['min']:.2f}-{ratio['max']:.2f}, {len(pairs)} repeat(s))"
    )


def growth(results: dict[str, Any]) -> str:
    """taskqueue's worker RSS after its first 10k tasks and after 200k (full mode)."""
    run = results.get("rss_growth") or {}
    if not run.get("ok"):
        return ""
    first, last = run["rss_first_mb"], run["rss_last_mb"]
    return (
        f"Worker RSS (`--pool solo`): {first:.1f} MB after {run['first']:,} tasks, "
        f"{last:.1f} MB after {run['n']:,}: **{last - first:+.1f} MB**"
    )


OPTION_LABELS = {
    "noop_unique": "`unique_for`",
    "noop_rated": "`rate_limit` (never limiting)",
    "noop_capped": "`concurrency` cap (never full)",
    "chain step": "a chain step (chains of 10)",
    "group member": "a group member (groups of 10, no callback)",
}


def option_costs(results: dict[str, Any]) -> dict[str, Any]:
    """Per option: run and enqueue µs per task above the plain no-op of the same
    repeat (median, min-max over repeats), the no-op's own figures as "noop"."""
    reps = [rep.get("options") or {} for rep in results["repeats"]]
    plain = [rep.get("noop") or {} for rep in reps]
    out: dict[str, Any] = {
        "noop": {
            key: spread([p[key] for p in plain if key in p])
            for key in ("run", "enqueue", "enqueue_many")
        }
    }
    for kind in OPTION_LABELS:
        row: dict[str, Any] = {}
        for key in ("run", "enqueue", "enqueue_many"):
            pairs = [
                (rep[kind][key], base[key])
                for rep, base in zip(reps, plain, strict=True)
                if key in (rep.get(kind) or {}) and key in base
            ]
            row[key] = spread([mine for mine, _ in pairs])
            row[f"{key}_delta"] = spread([mine - base for mine, base in pairs])
            row[f"{key}_pct"] = spread([100 * (m - b) / b for m, b in pairs if b])
        out[kind] = row
    return out


def span(cell: dict[str, float] | None, pattern: str = "+.1f") -> str:
    """median (min-max), or n/a."""
    if not cell:
        return "n/a"
    low, high = format(cell["min"], pattern), format(cell["max"], pattern)
    text = format(cell["median"], pattern)
    return text if low == high else f"{text} ({low} to {high})"


def options_table(costs: dict[str, Any]) -> str:
    """The option costs as markdown ("" when the run measured none)."""
    base = costs.get("noop") or {}
    if not base.get("run"):
        return ""
    lines = [
        "What each option costs when set (taskqueue `--pool solo`, µs per task above "
        "the plain no-op task of the same repeat):",
        "",
        "| option | run: µs per task above no-op | vs no-op run % "
        "| enqueue(): µs per task above no-op | bulk enqueue: µs per task above no-op |",
        "|---|---|---|---|---|",
        f"| no option (the no-op itself, absolute) | {span(base['run'], '.1f')} | n/a "
        f"| {span(base['enqueue'], '.1f')} | {span(base['enqueue_many'], '.1f')} |",
    ]
    for kind, label in OPTION_LABELS.items():
        row = costs.get(kind) or {}
        single = (
            "n/a"
            if kind in ("chain step", "group member")
            else span(row.get("enqueue_delta"))
        )
        lines.append(
            f"| {label} | {span(row.get('run_delta'))} | {span(row.get('run_pct'), '+.0f')} "
            f"| {single} | {span(row.get('enqueue_many_delta'))} |"
        )
    return "\n".join(lines)


def schedules_line(results: dict[str, Any]) -> str:
    """One idle solo worker's Redis commands/s and CPU % by its schedules."""
    cases = results.get("schedules_idle") or {}
    if not cases or cases.get("ok") is False:
        return ""
    parts = [
        f"{name}: {c['cmds_per_s']:.2f} cmds/s, CPU {c['cpu_pct']:.2f} %"
        for name, c in cases.items()
    ]
    return (
        "Idle worker (`--pool solo`) by its schedules, Redis commands/s and the "
        "worker's CPU: " + "; ".join(parts)
    )


def redis_cost(spread_us: dict[str, float] | None) -> str:
    """µs of Redis CPU per task, and the ceiling it sets: 1 / µs, on one core."""
    us = (spread_us or {}).get("median")
    if not us:
        return "n/a"
    return f"{us:.1f} ({1e6 / us:,.0f})"


def tables(table: dict[str, Any]) -> str:
    lines = [
        "| contender | no-op tasks/s (x raw BLPOP) | ORM tasks/s (x raw BLPOP+ORM) | lost / dup "
        "| Redis CPU µs / no-op task (tasks/s per Redis core) |",
        "|---|---|---|---|---|",
    ]
    for name, row in table.items():
        checked = f"{row['lost']} / {row['dup']}" if row["orm_checked"] else "n/a"
        lines.append(
            f"| {name} | {fmt_rate(row['noop'], row['noop_ratio'])} | "
            f"{fmt_rate(row['orm'], row['orm_ratio'])} | {checked} | "
            f"{redis_cost(row['redis_us'])} |"
        )
    lines += [
        "",
        "| contender | enqueue 1 call/task /s (x raw RPUSH) | enqueue bulk /s (x one big RPUSH) "
        "| latency p50 / p99 ms | idle Redis cmds/s | idle CPU % | RSS MB after tasks |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        idle = row["idle"]
        rss = f"{fmt(idle.get('rss_mb'), '.1f')} ({idle.get('rss_tasks', '?')})"
        lines.append(
            f"| {name} | {fmt_rate(row['single'], row['single_ratio'])} | "
            f"{fmt_rate(row['bulk'], row['bulk_ratio'])} | "
            f"{fmt(idle.get('lat_p50_ms'), '.2f')} / {fmt(idle.get('lat_p99_ms'), '.2f')} | "
            f"{fmt(idle.get('idle_cmds_per_s'), '.1f')} | {fmt(idle.get('idle_cpu_pct'), '.2f')} | {rss} |"
        )
    return "\n".join(lines)


def machine(results: dict[str, Any]) -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "redis": results.get("redis_version", "?"),
        "os": platform.platform(),
    }


def write(results: dict[str, Any], peer_python: Path | None) -> None:
    results["machine"] = machine(results)
    results["table"] = aggregate(results)
    results["option_costs"] = option_costs(results)
    text = tables(results["table"])
    for line in (
        scaling(results),
        legacy(results),
        growth(results),
        options_table(results["option_costs"]),
        schedules_line(results),
    ):
        if line:
            text += "\n\n" + line
    print("\n" + text + "\n")
    for name, reason in results.get("dropped", {}).items():
        print(f"left out: {name}: {reason}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    chart_ok = draw_chart(peer_python)
    MARKDOWN.write_text(markdown(results, text, chart_ok))
    print(f"wrote {MARKDOWN.relative_to(ROOT)}")


def draw_chart(peer_python: Path | None) -> bool:
    if peer_python is None:
        print("no chart: matplotlib lives in .venv-bench, which is missing")
        return False
    proc = subprocess.run(
        [str(peer_python), "-m", "bench.procs.chart", str(RESULTS), str(CHART)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"no chart: {proc.stderr.strip()[-300:]}")
        return False
    print(f"wrote {CHART.relative_to(ROOT)}")
    return True


def markdown(results: dict[str, Any], text: str, chart_ok: bool) -> str:
    from bench.docs_text import render

    return render(results, text, chart_ok)
