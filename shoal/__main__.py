"""`python -m shoal ...` is the `shoal` command (`shoal demo`, `shoal launch`)."""

import sys

from shoal.cli import main

sys.exit(main())
