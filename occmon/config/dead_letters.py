"""How much of the rejected input the store keeps: ``store.dead_letters`` in the site file.

A dead letter holds the rejected payload verbatim so an integrator can fix the sender, but
a flood of large bad messages must not fill the disk: each payload is kept up to a size
(the rest is cut, and the letter says so), and old or surplus rows are deleted. The
counters (``dead-letter:<code>``) keep counting what was deleted.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DeadLetterSettings(BaseModel):
    """``store.dead_letters``; the defaults bound the table to about 0.8 GB at worst."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_payload_bytes: int = Field(
        default=16_384, ge=256, le=4 * 1024 * 1024,
        description="bytes of each rejected payload kept; the rest is cut and the letter "
                    "says how many bytes it had")
    max_age_days: float = Field(
        default=90.0, gt=0, le=36_500,
        description="dead letters older than this many days are deleted")
    max_rows: int = Field(
        default=50_000, ge=100, le=10_000_000,
        description="at most this many dead letters are kept; the oldest go first")
