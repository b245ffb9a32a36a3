"""Read a point's card off the public board's HTML, as a person reads its status line."""

from __future__ import annotations

import re


def card_status(page: str, point: str) -> tuple[str, str]:
    """("stale" for an offline card, else the status word's class, e.g. "live"; the status
    text, e.g. "实时" or "离线 · 21 秒前")."""
    card = re.search(rf'<article class="pt lvl-(\w+)" data-point="{re.escape(point)}"(.*?)'
                     r"</article>", page, re.S)
    assert card is not None, page[:2000]
    status = re.search(r'<span class="status (\w+)">(.*?)</span>', card.group(2), re.S)
    assert status is not None, card.group(0)
    return ("stale" if card.group(1) == "offline" else status.group(1)), status.group(2)
