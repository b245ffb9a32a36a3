"""Find numbers in an API answer that look like epoch seconds: every time must be ISO 8601."""

from __future__ import annotations

from typing import Any

EPOCHS = (1e9, 1e10)  # 2001-09-09 .. 2286-11-20: a number there under any key is a time


def epoch_numbers(value: Any, where: str = "", epochs: tuple[float, float] = EPOCHS
                  ) -> list[str]:
    """JSON paths (``where`` is the prefix) of the numbers in ``value`` inside ``epochs``."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in epoch_numbers(v, f"{where}.{k}", epochs)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value)
                for p in epoch_numbers(v, f"{where}[{i}]", epochs)]
    if isinstance(value, int | float) and not isinstance(value, bool) \
            and epochs[0] <= value < epochs[1]:
        return [where]
    return []
