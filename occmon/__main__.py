"""``python -m occmon``: the same as the ``occmon`` command."""

from occmon.cli import main

raise SystemExit(main())
