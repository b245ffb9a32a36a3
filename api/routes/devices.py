"""Field devices and the gateway: online / offline as the gateway last reported."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Config, Store
from api.models import DeviceStatusOut
from api.views import device_out
from ingest.records import GATEWAY

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices", response_model=list[DeviceStatusOut])
def list_devices(config: Config, store: Store) -> list[DeviceStatusOut]:
    """Every configured device, then the gateway itself (id ``@gateway``)."""
    states = {s.device: s for s in store.device_states()}
    out = [device_out(config, d.id, states.get(d.id)) for d in config.devices]
    out.append(device_out(config, GATEWAY, states.get(GATEWAY)))
    return out
