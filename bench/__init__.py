"""The benchmark (issue 6): `make bench` / `make bench-quick` run bench/run.py."""
