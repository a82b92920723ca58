"""Code that runs inside the benchmark's subprocesses (workers and peer drivers).

These modules are imported by .venv-bench (peers), .venv-bench6 (the Django 6
Tasks backends) or .venv (raw loops) with
the repository root and bench/procs on sys.path; the product never imports them.
"""
