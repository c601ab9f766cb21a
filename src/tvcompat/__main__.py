"""``python -m tvcompat``: the same as the ``tvcompat`` command."""

from tvcompat.cli import main

raise SystemExit(main())
