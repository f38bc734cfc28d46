"""``python -m diffsim.scripts`` runs the ``diffsim`` command."""

import sys

from .main import main

sys.exit(main())
