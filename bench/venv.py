"""The peers' virtualenv (.venv-bench), created from bench/requirements-peers.txt.

A stamp file holding the requirements' text makes re-runs skip the install;
any failure means "no peers this run", never a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.contenders import ROOT

VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "bench" / "requirements-peers.txt"
STAMP = VENV / ".bench-installed"
PACKAGES = ["rq", "celery", "kombu", "dramatiq", "huey", "redis", "hiredis", "Django"]


def ensure() -> tuple[Path | None, str]:
    """Return (python of .venv-bench, "") or (None, reason)."""
    python = VENV / "bin" / "python"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python, ""
    print(f"creating {VENV.name} from {REQUIREMENTS.name} ...", flush=True)
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
            check=True, timeout=900,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not build {VENV.name}: {exc}"
    STAMP.write_text(wanted)
    return python, ""


def versions(python: Path) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {PACKAGES!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, str] = json.loads(proc.stdout)
    return result
