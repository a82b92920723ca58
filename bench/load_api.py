"""API load check: concurrent clients POST /api/tasks/ at gunicorn; nothing is lost.

Run: ``.venv/bin/python bench/load_api.py`` (defaults: 20,000 requests, 50
clients, 4 sync gunicorn workers, at most 120 s of load).

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
message of the default queue with its READY result record, and the pending
list must hold nothing else. Exit status 1 if anything was lost.
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
RECIPES = 5
USER = "loadcheck"


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
        "DJANGO_SETTINGS_MODULE": "project.settings",
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
            conn.request("POST", "/api/tasks/", body, headers)
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
        if response.status == 202:
            out["task_ids"].append(json.loads(data)["task_id"])
        elif len(out["samples"]) < 5:
            out["samples"].append(f"{response.status}: {data[:200]!r}")
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
    args: argparse.Namespace, *, port: int, token: str, ids: list[int]
) -> dict[str, Any]:
    """Fan the clients out over a few processes (JSON over pipes) and merge."""
    per_client = args.requests // args.clients
    deadline = time.time() + args.duration
    procs, first = [], 0
    for p in range(args.client_processes):
        threads = args.clients // args.client_processes + (
            1 if p < args.clients % args.client_processes else 0
        )
        job = {"port": port, "token": token, "recipe_ids": ids, "threads": threads,
               "per_client": per_client, "deadline": deadline, "first": first}  # fmt: skip
        first += threads
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--client-job", json.dumps(job)],
                stdout=subprocess.PIPE,
            )
        )
    outs = [
        json.loads(proc.communicate(timeout=args.duration + 60)[0]) for proc in procs
    ]
    # Load time: first client start to last client end (not process start-up).
    elapsed = max(o["ended"] for o in outs) - min(o["started"] for o in outs)
    total = {**empty_totals(), "elapsed": elapsed}
    for out in outs:
        merge(total, out)
    return total


def verify(server: RedisServer, accepted: list[str]) -> dict[str, int]:
    """Every accepted id pending in the default queue with its READY record."""
    client = server.client()
    keys = QueueKeys.for_queue("default", KEY_PREFIX)
    raws = [raw for raw in client.lrange(keys.pending, 0, -1) if raw != WAKE]
    pending = Counter(json.loads(raw)["id"] for raw in raws)
    wanted = set(accepted)
    with client.pipeline(transaction=False) as pipe:
        for task_id in accepted:
            pipe.hget(keys.result(task_id), "status")
        statuses = pipe.execute()
    return {
        "accepted": len(accepted),
        "accepted_unique": len(wanted),
        "llen": int(client.llen(keys.pending)),
        "pending_messages": len(raws),
        "missing_from_queue": len(wanted - set(pending)),
        "duplicated_in_queue": sum(n - 1 for n in pending.values()),
        "unknown_in_queue": len(set(pending) - wanted),
        "missing_records": sum(1 for s in statuses if s is None),
        "records_not_ready": sum(1 for s in statuses if s not in {None, b"READY"}),
        "priority_or_scheduled": int(client.zcard(keys.prio))
        + int(client.zcard(keys.scheduled)),
    }


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def report(
    args: argparse.Namespace, load: dict[str, Any], check: dict[str, int]
) -> bool:
    latencies = load["latencies"]
    done = sum(load["statuses"].values())
    errors = done - load["statuses"].get("202", 0)
    print(f"gunicorn {GUNICORN.split('==')[1]}: {args.workers} sync workers; "
          f"{args.clients} keep-alive clients in {args.client_processes} processes; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"requests:   {done} in {load['elapsed']:.1f} s = {done / load['elapsed']:.0f} req/s"
          f" (unsent at the deadline: {load['unsent']})")  # fmt: skip
    print(f"latency:    p50 {percentile(latencies, 0.50) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
          f"max {max(latencies, default=0) * 1000:.1f} ms")  # fmt: skip
    print(f"statuses:   {dict(sorted(load['statuses'].items()))}; errors {errors}")
    for sample in load["samples"]:
        print(f"  e.g. {sample}")
    print("redis:      " + ", ".join(f"{k} {v}" for k, v in check.items()))
    lost = check["missing_from_queue"] + check["missing_records"]
    clean = (
        lost == 0 and check["duplicated_in_queue"] == 0
        and check["accepted_unique"] == check["accepted"]
        and check["pending_messages"] == check["accepted"]
        and check["records_not_ready"] == 0
    )  # fmt: skip
    print("verdict:    " + ("OK, every accepted task is in Redis, none lost"
                            if clean else f"FAILED: {lost} accepted task(s) lost"))  # fmt: skip
    return clean


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="max seconds of load"
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
            load = run_load(args, port=port, token=token, ids=ids)
            check = verify(server, load["task_ids"])
        finally:
            if gunicorn is not None:
                gunicorn.terminate()
                gunicorn.wait(timeout=30)
            server.stop()
    return 0 if report(args, load, check) else 1


if __name__ == "__main__":
    sys.exit(main())
