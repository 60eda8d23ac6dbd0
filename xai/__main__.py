"""``python -m xai`` runs the command line."""

import sys

from xai.cli import main

sys.exit(main())
