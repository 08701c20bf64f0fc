"""`python -m compress`: the command line, as the `compress` script runs it."""

import sys

from compress.engine.cli import main

sys.exit(main())
