"""``python -m evmon`` runs the command line."""

import sys

from evmon.cli import main

sys.exit(main())
