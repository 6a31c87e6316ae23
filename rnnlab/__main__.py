"""`python -m rnnlab` runs the command line."""

import sys

from rnnlab.cli.entry import main

sys.exit(main())
