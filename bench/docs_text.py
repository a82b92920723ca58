"""The text of docs/benchmarks.md around the measured tables (regenerated each run)."""

from __future__ import annotations

import time
from typing import Any

METHOD = """\
## Method

- One private `redis-server` (free loopback port, `--save ""`, no AOF) and one SQLite
  database (WAL, the product's connection options) with 1,000 recipes, in a temp dir,
  removed at the end. Every contender uses the same server and the same database.
- Contenders run as real subprocesses, one worker process each: taskqueue
  (`manage.py runworker --burst --loglevel WARNING --queue default --pool solo`, settings
  `tests.settings` so `tests.tasks.noop` is registered; results stored, at-least-once);
  taskqueue's two pools at concurrency 2 (`--pool prefork -c 2`, two processes, and
  `--pool threads -c 2`, throughput only); the raw limits
  (`bench/procs/raw_worker.py`: BLPOP + `json.loads`, at-most-once; and a Lua pop of up to
  100 into a processing list with one `DEL` ack per batch); the peers from pinned versions
  in `.venv-bench` (`bench/requirements-peers.txt`), never imported by the product; the
  Django 6 Tasks backends (django-vtasks, django-tasks-redis, django-tasks-db, Huey's
  django.tasks backend) from pinned versions in `.venv-bench6`
  (`bench/requirements-peers-django6.txt`, Django 6.1)
  built with a Python >= 3.12 found on the machine (`python3.13`/`python3.12` on PATH or
  a pyenv version; without one they are left out, with the reason below the tables).
  Their tasks are `@task` functions (`bench/procs/django6_tasks.py`) enqueued with
  `task.enqueue()`, settings `bench/django6_settings.py` (the backend's app and
  `TASKS["default"]`, the same Redis and SQLite file).
  Every Django process runs with `DEBUG` off, as in production.
- Before the repeats (full mode), each worker must run one sentinel task; one that cannot is
  left out, with the reason below the tables. `--quick` skips that smoke test.
- **Throughput (b, c):** the queue is filled with a start marker, N tasks and a sentinel,
  then the worker is started; rate = N / (time the sentinel ran - time the start marker
  ran), both stamped inside the worker (taskqueue: the first message's `started_at` and
  the latest `finished_at` of the last settled tasks, from their result records (with two
  consumers the sentinel can finish before the other consumer's last task; those runs also
  wait until nothing is pending or in flight); others: marker tasks that
  write `time.time()` to Redis). Start-up and the harness's polling are not counted.
  The same method for every contender. Slow peers get a fraction of N (RQ fork 0.005, left out of `--quick`; RQ 0.1, Dramatiq 0.2, Celery 0.25, Huey 0.5;
  django-vtasks 0.5, django-tasks-redis 0.1, django-tasks-db 0.1, Huey django.tasks 0.5)
  so a run stays short; rates are per second either way. Redis CPU per no-op task:
  the server's own CPU time (`INFO cpu`) over the run, divided by N: the work a
  contender puts on the one Redis every worker shares; in brackets the ceiling that sets on
  a fleet, 1 / (µs per task): tasks/s per Redis core. For A/B work on the scripts,
  `bench/redis_instructions.py` counts Redis's instructions per message under callgrind
  (no noise). (A worker's own CPU per task is
  not in the table: its start-up alone varies by a third of a second from run to run.)
- **ORM task (c):** get the recipe, compute its derived fields, `update(...,
  processed_count=F()+1)` in one transaction. taskqueue runs `recipe.tasks.process_recipe`,
  which also inserts its exactly-once record (`once_per_task`) in the same transaction;
  the others run the body without that record (`bench/procs/common.py`). Afterwards
  `sum(processed_count)` must equal N: the shortfall is reported as lost, the excess as
  duplicated.
- **Legacy producers (taskqueue, `--pool solo`):** the original system's producers, as
  they write: a plain redis-py `RPUSH` of `{"recipe_id": N}` onto the default queue's
  list (`task_queue`), between the same start marker and sentinel, N as the ORM run's.
  The claim wraps each one with its task id and the worker runs it as `LEGACY_TASK`
  (`recipe.tasks.process_recipe`, the same ORM task, checked the same way). It runs right
  beside taskqueue's native ORM run (after it in one repeat, before it in the next), and
  its ratio is to that run. `bench/run.py --legacy-only` runs just those two (`--n`,
  `--repeats`) and writes no docs.
- **Enqueue (a):** N calls one at a time from one producer (taskqueue `task.enqueue()`,
  raw `RPUSH` per call, peers their own call) and one bulk call where there is one
  (taskqueue `enqueue_many`, raw one big `RPUSH`, RQ `enqueue_many`, django-vtasks
  `backend.enqueue_many`; django-tasks-redis, django-tasks-db and Huey's django.tasks
  backend have no bulk call).
- **Idle worker (d, e, f):** a running worker, idle: Redis commands/s from
  `INFO commandstats` over the idle window (20 s in full mode, so that periodic work such as
  heartbeats is averaged in; it counts commands run inside Lua scripts too, so a script call
  counts as several), CPU % of the worker's process tree (psutil);
  then enqueue → start latency one task at a time (taskqueue: the result record's
  `started_at`; others: a task that records `time.time()` - enqueue time); then RSS of the
  worker's process tree after a batch of no-op tasks. Measured once per contender.
- **What each option costs when set (taskqueue, `--pool solo`):** in every repeat, after
  the contenders, `bench/task_options.py`'s `one_repeat` for each kind, in an order rotated
  per repeat: the plain `tests.tasks.noop`; `noop_unique` (`unique_for=600`, a distinct
  argument per task); `noop_rated` (`rate_limit="999999999/s"`, never limiting) and
  `noop_capped` (`concurrency=1_000_000`, never full), so the figure is the option's own
  work, not its waits; and `noop` as a step of chains of 10, or a member of groups of 10
  without a callback (`taskqueue.workflows`). N tasks each (2,000 in `--quick`, 5,000 in
  full mode): `task.enqueue()` in a loop, `enqueue_many` of N (a workflow: its own
  `enqueue()`, one script per 10 tasks, in the bulk column), then a burst
  `runworker --pool solo`, timed from the first task's start to the last one's finish in
  their result records (start-up left out). Each figure is the difference to the plain
  no-op of the same repeat, then median (min-max) over the repeats; the % is of the no-op's
  run time per task.
- **Measured beside `make bench`, by their own commands** (their figures are in
  `CHANGELOG.md` and docs/operations.md, as each change that moved them records them):
  the HTTP API against a bare one-`RPUSH` Django view on the same gunicorn
  (`bench/load_api.py`, `make bench-api`: requests/s, p50, p99 and the ratio); Redis's
  instructions per claimed and settled message under callgrind
  (`bench/redis_instructions.py 20000`, noise-free, for A/B runs between checkouts; the
  `INFO cpu` figure above moves by ±10 % from run to run); and what the control and
  workflow features cost a no-op task when no task uses them
  (`bench/task_options.py --tasks noop`, interleaved with the same on a checkout from
  before them, `--root DIR`).
- **Idle worker with schedules:** `bench/schedules_idle.py`'s cases, once per run: one
  `runworker --pool solo` on an empty queue with 0, 1 and 100 daily crons (due in hours),
  and one `every: 1` schedule for scale (a due tick each second: its fire script and the
  no-op task's run); Redis commands/s (`INFO commandstats`, as the idle measurement) and
  the worker's CPU % over 10 s (2 s in `--quick`), after 3 s (1 s) of settling.
- Repeats are interleaved (each repeat runs every contender, in a rotated order). Ratios
  are computed inside a repeat against the raw BLPOP loop of the same repeat, then
  summarised as median (min-max).

## Fairness notes

- Results off: Celery `task_ignore_result=True`; Huey `results=False`; Dramatiq has no
  Results middleware configured; RQ jobs use `result_ttl=0` (RQ still writes the job hash
  and registries per job, it cannot skip that). django-vtasks stores no results at all
  (it has no result store). django-tasks-redis cannot turn results off: every task is a
  hash (kept 30 days by default) plus entries in its status-index sets, updated by Lua at
  claim and finish. django-tasks-db cannot either: the task's row is both queue entry and
  result. Huey's django.tasks backend cannot either: it keeps a status record per task
  (`djt.<id>` in the huey instance's result hash, written at enqueue, start and finish;
  `RedisHuey`, the default, never expires it). taskqueue cannot turn results off: it
  stores every outcome (a guarantee of the product), so its figures include that work.
- Delivery: the raw BLPOP loop, Celery (default early ack), Huey and RQ are at-most-once
  as configured; Dramatiq and the Lua batch loop are at-least-once; taskqueue is
  at-least-once with an exactly-once record for the ORM task. django-vtasks moves each
  task into a per-worker processing list (BLMOVE), but by default (`VTASKS_MAX_RESCUES`
  0) a dead worker's task is dead-lettered, not re-run; django-tasks-redis (a Redis
  Stream and consumer group) re-runs a dead worker's task after its claim timeout (300 s)
  up to 5 starts; django-tasks-db claims the row, which stays RUNNING if the worker dies;
  Huey's django.tasks backend is Huey's queue (BRPOP), at-most-once like the Huey row.
- Workers: RQ `SimpleWorker` (no fork per job) and RQ's default `Worker` (a fork per job),
  both with `--burst` for throughput runs; Celery `-P solo -c 1` and `-P prefork -c 1` (a
  supervisor and one child: one task at a time, like every other row), both
  `--without-gossip --without-mingle --without-heartbeat`;
  Dramatiq `-p 1 -t 1`; Huey `-k thread -w 1 -n`.
- The Django 6 Tasks backends, each its own worker command with its defaults otherwise:
  django-vtasks `python -m django runworker --queue default --concurrency 1` (an asyncio
  worker that runs sync tasks in a thread, one at a time; it fetches the next task while
  one runs; no burst mode, so like Celery, Dramatiq and Huey it is stopped after the
  sentinel; when idle it blocks 1 s in BLMOVE, then sleeps up to 1 s, hence its p99);
  django-tasks-redis `python -m django run_redis_tasks --queue default` (exits when the
  queue is empty; `--continuous` for the idle run; it prints a line per task to stdout,
  which cannot be turned off, into the log file here); django-tasks-db
  `python -m django db_worker --queue-name default -v 0` (`--batch` for throughput runs;
  when the queue is empty it polls every `--interval` 1 s, its default, so in the latency
  test, where each task is sent just after the previous one ran, it waits almost a full
  second); Huey's django.tasks backend `python -m django run_huey -k thread -w 1 -n -q -A`
  (djhuey's command, the same consumer as the Huey row; `-A`: no autoload of the apps'
  `tasks.py`, the backend's shim task imports `bench/procs/django6_tasks.py` by path;
  `HUEY = {"name": "bench", "url": ..., "immediate": False}`, a `RedisHuey`; no burst
  mode, stopped after the sentinel).
- django-tasks-db's queue is a table in the benchmark's SQLite file (migrated there by
  Django 6 from `.venv-bench6`, emptied between runs like the recipes): every enqueue is
  an INSERT and every claim an exclusive transaction on the same file the ORM task
  writes. That is the backend's design (its queue is the database), not a harness
  choice; on PostgreSQL it would use `SELECT ... FOR UPDATE SKIP LOCKED` instead.
- The Django 6 rows run Django 6.1 on the newer Python of `.venv-bench6` (see Machine);
  every other contender runs Django 5.2 on the Python of the product's venv.
- RSS growth (full mode, taskqueue's solo worker): 200,000 no-op tasks queued, the worker's
  RSS sampled once it has taken 10,000 and again after the last; also
  `bench/worker_scaling.py --rss-only`.
"""


def render(results: dict[str, Any], text: str, chart_ok: bool) -> str:
    m = results["machine"]
    size = results["size"]
    parts = [
        "# Benchmarks",
        "",
        "Rerun: `make bench` (full, ~20 min) or `make bench-quick` (< 2 min). "
        "Raw figures: `bench/results/latest.json` (not committed).",
        "",
        f"Latest run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, mode "
        f"**{results['mode']}**, {size['repeats']} repeat(s), N = {size['noop']:,} no-op, "
        f"{size['orm']:,} ORM, {size['enqueue']:,} enqueue.",
        "",
        text,
        "",
    ]
    for name, reason in results.get("dropped", {}).items():
        parts.append(f"Left out: {name}: {reason}")
    if chart_ok:
        parts += ["", "![benchmark chart](benchmark.png)", ""]
    parts += [
        "## Machine",
        "",
        f"- CPUs (nproc): {m['nproc']}; CPU: {m['cpu']}",
        f"- OS: {m['os']}; Python {m['python']}; Redis {m['redis']}",
    ]
    for key, venv in (("peer_versions", ".venv-bench"),
                      ("peer_versions_django6", ".venv-bench6")):  # fmt: skip
        versions = results.get(key, {})
        if versions:
            parts.append(
                f"- Peers ({venv}): "
                + ", ".join(f"{k} {v}" for k, v in versions.items())
            )
    parts += ["", METHOD]
    return "\n".join(parts) + "\n"
