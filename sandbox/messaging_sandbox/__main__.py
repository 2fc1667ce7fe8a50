"""``python -m messaging_sandbox``: the same as the ``messaging-sandbox`` command."""

import sys

from .cli import main

sys.exit(main())
