"""``python -m ingest CONFIG``: the same as ``occmon ingest CONFIG``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ingest.main import run

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ingest CONFIG.yaml")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run(Path(sys.argv[1])))
