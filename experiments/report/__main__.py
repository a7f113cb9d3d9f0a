"""`python -m experiments.report results/<run>`: regenerate a finished run's report."""

import sys

from experiments.report.build import main

sys.exit(main())
