"""API load check: concurrent clients POST /api/tasks/ at gunicorn; nothing is lost.

Run: ``.venv/bin/python bench/load_api.py`` (defaults: 20,000 requests to
each of the two paths, 50 clients, 4 sync gunicorn workers, 6 rounds).

The yardstick is a bare Django view on the same server (``bench/api_urls.py``,
bench-only settings ``bench.api_settings``): one RPUSH, then 202. The two
paths are loaded in turn, at the same concurrency, in rounds ordered
bare-api, api-bare, bare-api, ... so that a machine that slows down or
speeds up during the run weighs on both alike; each is warmed up first.
The report gives requests/s, p50 and p99 of each and the ratio.

Everything is private and on loopback: a throwaway redis-server and a SQLite
database in a temp dir (migrated, a few recipes, a user with
``recipe.change_recipe`` and a token from ``manage.py createapitoken``), and
gunicorn serving ``project.wsgi`` with production settings (DEBUG off).
Gunicorn is not a project dependency, so it lives in its own venv under /tmp
that sees the project's venv through a ``.pth`` file; the project's lock and
``.venv`` are never touched.

The clients are threads with keep-alive ``http.client`` connections, spread
over a few processes so the client's GIL does not cap the server. After the
load, the check reads Redis directly: every 202's task id must be a pending
message of the default queue with its READY entry, the pending list must hold
nothing else, and the bare view's list one item per 202. Exit status 1 if
anything was lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.redis_server import RedisServer, free_port
from taskqueue.keys import QueueKeys
from taskqueue.protocol import WAKE

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = "gunicorn==23.0.0"
GUNICORN_VENV = Path(tempfile.gettempdir()) / "taskqueue-load-gunicorn"
KEY_PREFIX = "loadcheck:"
BARE_KEY = KEY_PREFIX + "bench:bare"  # bench/api_settings.py: prefix + "bench:bare"
RECIPES = 5
USER = "loadcheck"
PATHS = {"api": "/api/tasks/", "bare": "/bench/rpush/"}


def gunicorn_python() -> Path:
    """A venv with gunicorn that also sees this interpreter's packages (the project's)."""
    python = GUNICORN_VENV / "bin" / "python"
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run(
            [base, "-m", "venv", str(GUNICORN_VENV)], check=True, timeout=300
        )
    probe = subprocess.run([python, "-c", "import gunicorn"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run(
            [python, "-m", "pip", "install", "-q", GUNICORN], check=True, timeout=600
        )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    project_site = sysconfig.get_paths()["purelib"]
    line = f"import site; site.addsitedir({project_site!r})\n"
    (Path(site) / "taskqueue-project.pth").write_text(line)
    return python


def django_env(tmp: Path, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "TASKQUEUE_KEY_PREFIX": KEY_PREFIX,
        "TASKQUEUE_VAR_DIR": str(tmp / "var"),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
    }


SEED = f"""
from django.contrib.auth.models import Permission, User
from recipe.models import Recipe
ids = [Recipe.objects.create(name=f"Load recipe {{i}}", ingredients="1 egg\\n2 cups flour",
       instructions="Mix. Bake 20 minutes.").pk for i in range({RECIPES})]
user = User.objects.create_user("{USER}")
user.user_permissions.add(Permission.objects.get(codename="change_recipe"))
print(",".join(map(str, ids)))
"""


def prepare_database(env: dict[str, str]) -> tuple[list[int], str]:
    """Migrate, seed recipes and a permitted user; return (recipe ids, API token)."""

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True, timeout=300,
        ).stdout.strip()  # fmt: skip

    manage("migrate", "--noinput", "-v", "0")
    ids = [int(i) for i in manage("shell", "-c", SEED).splitlines()[-1].split(",")]
    return ids, manage("createapitoken", USER, "--name", "load check")


def start_gunicorn(
    python: Path, env: dict[str, str], *, workers: int, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [
        str(python), "-m", "gunicorn", "project.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "sync", "--backlog", "2048", "--chdir", str(ROOT),
        "--error-logfile", str(log), "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(args, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def client_thread(job: dict[str, Any], index: int, out: dict[str, Any]) -> None:
    """One keep-alive client: POST its share of requests until done or the deadline."""
    headers = {
        "Authorization": f"Token {job['token']}",
        "Content-Type": "application/json",
    }
    recipe_ids = job["recipe_ids"]
    conn: http.client.HTTPConnection | None = None
    for n in range(job["per_client"]):
        if time.time() > job["deadline"]:
            out["unsent"] += job["per_client"] - n
            break
        body = json.dumps({"recipe_id": recipe_ids[(index + n) % len(recipe_ids)]})
        started = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=30)
            conn.request("POST", job["path"], body, headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            out["statuses"][type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
            continue
        out["latencies"].append(time.perf_counter() - started)
        out["statuses"][str(response.status)] += 1
        if response.status != 202:
            if len(out["samples"]) < 5:
                out["samples"].append(f"{response.status}: {data[:200]!r}")
        elif job["path"] == PATHS["api"]:
            out["task_ids"].append(json.loads(data)["task_id"])
    if conn is not None:
        conn.close()


def empty_totals() -> dict[str, Any]:
    return {"statuses": Counter(), "latencies": [], "task_ids": [], "samples": [],
            "unsent": 0}  # fmt: skip


def merge(total: dict[str, Any], part: dict[str, Any]) -> None:
    total["statuses"].update(part["statuses"])
    for key in ("latencies", "task_ids", "samples"):
        total[key].extend(part[key])
    total["unsent"] += part["unsent"]


def client_process(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job['threads']`` clients in this process; JSON-able totals."""
    parts = [empty_totals() for _ in range(job["threads"])]  # one per thread: no races
    threads = [
        threading.Thread(target=client_thread, args=(job, job["first"] + i, part))
        for i, part in enumerate(parts)
    ]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = {**empty_totals(), "started": started, "ended": time.time()}
    for part in parts:
        merge(total, part)
    return total


def run_load(
    args: argparse.Namespace, target: dict[str, Any], *, path: str, requests: int,
    duration: float,
) -> dict[str, Any]:  # fmt: skip
    """One phase: ``requests`` POSTs to ``path`` from every client, merged.

    ``target`` holds the server's port, the token and the recipe ids. The
    clients are fanned out over a few processes (JSON over pipes).
    """
    per_client = max(1, requests // args.clients)
    deadline = time.time() + duration
    procs, first = [], 0
    for p in range(args.client_processes):
        threads = args.clients // args.client_processes + (
            1 if p < args.clients % args.client_processes else 0
        )
        job = {**target, "threads": threads, "per_client": per_client,
               "deadline": deadline, "first": first, "path": path}  # fmt: skip
        first += threads
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--client-job", json.dumps(job)],
                stdout=subprocess.PIPE,
            )
        )
    outs = [json.loads(proc.communicate(timeout=duration + 60)[0]) for proc in procs]
    # Load time: first client start to last client end (not process start-up).
    elapsed = max(o["ended"] for o in outs) - min(o["started"] for o in outs)
    total = {**empty_totals(), "elapsed": elapsed}
    for out in outs:
        merge(total, out)
    return total


def run_rounds(
    args: argparse.Namespace, *, port: int, token: str, ids: list[int]
) -> dict[str, dict[str, Any]]:
    """Warm both paths up, then load them in turn, ``args.rounds`` times each.

    Warm-up answers are not counted, except that their task ids are
    verified with the others.
    """
    load = {name: {**empty_totals(), "elapsed": 0.0} for name in PATHS}
    target = {"port": port, "token": token, "recipe_ids": ids}
    for name, path in PATHS.items():
        warm = run_load(args, target, path=path, requests=args.clients * 4,
                        duration=args.duration)  # fmt: skip
        load[name]["task_ids"].extend(warm["task_ids"])
        load[name]["warmup_accepted"] = warm["statuses"].get("202", 0)
    budget = args.duration / (2 * args.rounds)
    for n in range(args.rounds):
        for name in ("bare", "api") if n % 2 == 0 else ("api", "bare"):
            part = run_load(args, target, path=PATHS[name],
                            requests=args.requests // args.rounds, duration=budget)  # fmt: skip
            merge(load[name], part)
            load[name]["elapsed"] += part["elapsed"]
    return load


def verify(
    server: RedisServer, accepted: list[str], bare_accepted: int
) -> dict[str, int]:
    """Every accepted id pending in the default queue with its READY entry."""
    client = server.client()
    keys = QueueKeys.for_queue("default", KEY_PREFIX)
    raws = [raw for raw in client.lrange(keys.pending, 0, -1) if raw != WAKE]
    pending = Counter(json.loads(raw)["id"] for raw in raws)
    wanted = set(accepted)
    with client.pipeline(transaction=False) as pipe:
        for task_id in accepted:
            pipe.hexists(keys.ready, task_id)
        ready = pipe.execute()
    return {
        "accepted": len(accepted),
        "accepted_unique": len(wanted),
        "llen": int(client.llen(keys.pending)),
        "pending_messages": len(raws),
        "missing_from_queue": len(wanted - set(pending)),
        "duplicated_in_queue": sum(n - 1 for n in pending.values()),
        "unknown_in_queue": len(set(pending) - wanted),
        "missing_ready": sum(1 for r in ready if not r),
        "priority_or_scheduled": int(client.zcard(keys.prio))
        + int(client.zcard(keys.scheduled)),
        "bare_accepted": bare_accepted,
        "bare_llen": int(client.llen(BARE_KEY)),
        # The auth stamp GETs (0 while the token cache's listeners are
        # subscribed; about one per API request when they are not).
        "stamp_gets": int(
            client.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
        ),
        "auth_subscribers": int(
            client.pubsub_numsub(f"{KEY_PREFIX}taskqueue:auth:changes")[0][1]
        ),
    }


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def describe(name: str, load: dict[str, Any]) -> str:
    latencies, done = load["latencies"], sum(load["statuses"].values())
    errors = done - load["statuses"].get("202", 0)
    return (
        f"{name + ':':6} {PATHS[name]:15} {done} in {load['elapsed']:.1f} s = "
        f"{rate(load):.0f} req/s; p50 {percentile(latencies, 0.50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies, default=0) * 1000:.1f} ms; "
        f"statuses {dict(sorted(load['statuses'].items()))}, errors {errors}, "
        f"unsent {load['unsent']}"
    )


def rate(load: dict[str, Any]) -> float:
    done = sum(load["statuses"].values())
    return done / load["elapsed"] if load["elapsed"] else 0.0


def report(
    args: argparse.Namespace, load: dict[str, dict[str, Any]], check: dict[str, int]
) -> bool:
    print(f"gunicorn {GUNICORN.split('==')[1]}: {args.workers} sync workers; "
          f"{args.clients} keep-alive clients in {args.client_processes} processes; "
          f"{os.cpu_count()} CPUs; {args.rounds} rounds per path")  # fmt: skip
    for name in ("bare", "api"):
        print(describe(name, load[name]))
        for sample in load[name]["samples"]:
            print(f"  e.g. {sample}")
    bare = rate(load["bare"])
    print(f"ratio:  api / bare = {rate(load['api']) / bare if bare else 0:.2f}")
    print("redis:  " + ", ".join(f"{k} {v}" for k, v in check.items()))
    lost = check["missing_from_queue"] + check["missing_ready"]
    clean = (
        lost == 0 and check["duplicated_in_queue"] == 0
        and check["accepted_unique"] == check["accepted"]
        and check["pending_messages"] == check["accepted"]
        and check["bare_llen"] == check["bare_accepted"]
    )  # fmt: skip
    print("verdict: " + ("OK, every accepted task is in Redis, none lost"
                         if clean else f"FAILED: {lost} accepted task(s) lost"))  # fmt: skip
    return clean


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests", type=int, default=20_000, help="per path, over all rounds"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--rounds", type=int, default=6, help="phases per path, interleaved"
    )
    parser.add_argument(
        "--duration", type=float, default=240.0, help="max seconds of load"
    )
    parser.add_argument("--client-job", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse()
    if args.client_job:  # a client process started by run_load()
        print(json.dumps(client_process(json.loads(args.client_job))))
        return 0
    python = gunicorn_python()
    with tempfile.TemporaryDirectory(prefix="taskqueue-load-") as name:
        tmp = Path(name)
        server = RedisServer(tmp)
        server.start()
        gunicorn: subprocess.Popen[bytes] | None = None
        try:
            env = django_env(tmp, server.url)
            ids, token = prepare_database(env)
            gunicorn, port = start_gunicorn(
                python, env, workers=args.workers, log=tmp / "gunicorn.log"
            )
            load = run_rounds(args, port=port, token=token, ids=ids)
            bare = load["bare"]
            bare_accepted = bare["statuses"].get("202", 0) + bare["warmup_accepted"]
            check = verify(server, load["api"]["task_ids"], bare_accepted)
        finally:
            if gunicorn is not None:
                gunicorn.terminate()
                gunicorn.wait(timeout=30)
            server.stop()
    return 0 if report(args, load, check) else 1


if __name__ == "__main__":
    sys.exit(main())
