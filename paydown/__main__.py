"""`python -m paydown` runs the command line."""

from paydown.cli import main

raise SystemExit(main())
