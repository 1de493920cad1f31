"""Liveness, readiness (what is loaded, where, and what to set when cloning is unavailable)."""

from __future__ import annotations

from fastapi import APIRouter

from ..engines.base import EngineStatus
from ..security import Authorized
from .deps import ServicesDep

public = APIRouter()
router = APIRouter(dependencies=[Authorized])


@public.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def _engine_dict(status: EngineStatus) -> dict:
    return {
        "available": status.available,
        "model_id": status.model_id,
        "device": status.device,
        "dtype": status.dtype,
        "reason": status.reason,
        **({"note": status.extra["device_note"]} if status.extra.get("device_note") else {}),
        # what the fast CPU option changed (XTTS only)
        **{
            key: status.extra[key]
            for key in ("int8", "vocoder_dtype", "precision", "listener_batch", "read_ahead")
            if key in status.extra
        },
    }


@router.get("/ready")
def ready(services: ServicesDep) -> dict:
    xtts = services.xtts.status()
    piper = services.piper_status
    worker = services.worker
    return {
        "ready": xtts.available or piper.available,
        "engines": {"xtts": _engine_dict(xtts), "piper": _engine_dict(piper)},
        "device": xtts.device,
        "dtype": xtts.dtype,
        "model_id": xtts.model_id,
        "cloning_available": xtts.available,
        "reason": xtts.reason,
        "device_note": xtts.extra.get("device_note"),
        # fp32 or the int8 fast path, and why (OWNVOICE_XTTS_PRECISION; engines/precision.py)
        "precision": xtts.extra.get("precision"),
        # replicas of this service behind its URL (Ray Serve): batches the app server keeps in flight
        "replicas": services.settings.replicas,
        "worker": {
            "busy": worker.busy,
            "in_flight": worker.in_flight,
            "capacity": worker.capacity,
            "completed": worker.stats.completed,
            "cancelled": worker.stats.cancelled,
            "timed_out": worker.stats.timed_out,
            "failed": worker.stats.failed,
        },
    }
