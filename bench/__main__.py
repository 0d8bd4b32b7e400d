"""``python -m bench``: run every benchmark and write bench/results/."""

import sys

from bench.run import main

sys.exit(main())
