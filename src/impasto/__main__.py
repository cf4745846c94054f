"""`python -m impasto`."""

from impasto.cli import main

raise SystemExit(main())
