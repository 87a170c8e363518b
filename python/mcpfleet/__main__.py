"""`python -m mcpfleet`: the `mcpfleet` command."""

import sys

from .cli import main

sys.exit(main())
