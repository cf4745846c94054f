"""`python -m bench`: the benchmark harness (bench/harness/cli.py)."""

from bench.harness.cli import main

raise SystemExit(main())
