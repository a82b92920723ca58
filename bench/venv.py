"""The peers' virtualenvs, each created from its pinned requirements file.

.venv-bench (bench/requirements-peers.txt, this Python): RQ, Celery,
Dramatiq, Huey. .venv-bench6 (bench/requirements-peers-django6.txt): the
Django 6 Tasks backends, which need a Python >= 3.12, looked for on this
machine rather than assumed. A stamp file holding the requirements' text
makes re-runs skip the install; any failure means "those peers are left out
this run", never a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.contenders import ROOT

VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "bench" / "requirements-peers.txt"
STAMP = VENV / ".bench-installed"
PACKAGES = ["rq", "celery", "kombu", "dramatiq", "huey", "redis", "hiredis", "Django"]

VENV6 = ROOT / ".venv-bench6"
REQUIREMENTS6 = ROOT / "bench" / "requirements-peers-django6.txt"
PACKAGES6 = ["Django", "django-vtasks", "django-vcache", "django-tasks-redis",
             "django-tasks-db", "huey", "redis"]  # fmt: skip
MIN_PYTHON6 = (3, 12)


def ensure() -> tuple[Path | None, str]:
    """Return (python of .venv-bench, "") or (None, reason)."""
    return build(VENV, REQUIREMENTS, Path(sys.executable))


def ensure_django6() -> tuple[Path | None, str]:
    """Return (python of .venv-bench6, "") or (None, reason)."""
    base = find_python(MIN_PYTHON6)
    if base is None:
        return None, "no Python >= 3.12 (python3.13, python3.12 or pyenv) for Django 6"
    return build(VENV6, REQUIREMENTS6, base)


def build(venv: Path, requirements: Path, base: Path) -> tuple[Path | None, str]:
    """Create venv with base's Python and install requirements, unless stamped."""
    python = venv / "bin" / "python"
    stamp = venv / ".bench-installed"
    wanted = requirements.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python, ""
    print(f"creating {venv.name} from {requirements.name} ...", flush=True)
    try:
        if not python.exists():
            subprocess.run([base, "-m", "venv", venv], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
            check=True, timeout=900,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not build {venv.name}: {exc}"
    stamp.write_text(wanted)
    return python, ""


def find_python(minimum: tuple[int, int]) -> Path | None:
    """The first interpreter on PATH or under pyenv that runs and is >= minimum."""
    for candidate in python_candidates():
        if runs_at_least(candidate, minimum):
            return candidate
    return None


def python_candidates() -> list[Path]:
    """python3.13 / python3.12 on PATH (may be pyenv shims), then pyenv's versions."""
    found = [Path(p) for p in map(shutil.which, ("python3.13", "python3.12")) if p]
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = sorted(
        (root / "versions").glob("3.1[2-9]*/bin/python3"),
        key=lambda p: _version_key(p.parent.parent.name),
        reverse=True,
    )
    return found + installed


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def runs_at_least(python: Path, minimum: tuple[int, int]) -> bool:
    """True if python starts and its version is >= minimum (a pyenv shim may not)."""
    code = f"import sys; print(sys.version_info[:2] >= {minimum!r})"
    try:
        proc = subprocess.run(
            [str(python), "-c", code],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "True"


def versions(python: Path, packages: list[str] = PACKAGES) -> dict[str, str]:
    """The venv's Python and the installed versions of packages (missing ones left out)."""
    code = (
        "import json, platform, importlib.metadata as m\n"
        f"names = {packages!r}\n"
        "out = {'Python': platform.python_version()}\n"
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
