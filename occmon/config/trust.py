"""How far occmon trusts what arrives over the network: the time window of a sample.

Validated once here; ``occmon.plausibility`` applies it. Defaults suit a plant whose edge
box keeps NTP time: a device clock may run a few seconds ahead, never an hour.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrustConfig(BaseModel):
    """``trust:`` in the site file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_future_skew: float = Field(
        default=5.0, ge=0, le=3600,
        description="seconds a sample's time may lie ahead of the receiver's clock")
    max_age_days: float = Field(
        default=400.0, gt=0, le=36500,
        description="oldest sample accepted, in days before now (the store's retention)")
