"""Where the XTTS checkpoint comes from, and its model id.

Order: `XTTS_MODEL_DIR` (a local checkpoint; missing files are a configuration error),
`OWNVOICE_DEMO_MODEL=tiny|full` (random checkpoints built on demand into ai-service/checkpoints),
a previous hub download in `DATA_DIR/models/xtts_v2`, then a hub download when the user accepted
the Coqui Public Model License (`COQUI_TOS_AGREED=1`). When none applies or the download fails
(offline), cloning is unavailable with a reason saying what to set; the service still runs.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .random_checkpoints import DEFAULT_CHECKPOINTS_DIR, build_checkpoint

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
HUB_FILES = [*REQUIRED_FILES, "speakers_xtts.pth"]

HOW_TO_ENABLE = (
    "Set XTTS_MODEL_DIR to a local XTTS v2 checkpoint directory, or COQUI_TOS_AGREED=1 to download "
    "XTTS v2 (accepting the Coqui Public Model License, non-commercial), or OWNVOICE_DEMO_MODEL=tiny "
    "for the random demo model."
)


class ModelConfigError(Exception):
    """A model setting points at something unusable; the service should not start."""


@dataclass(frozen=True)
class ModelSource:
    path: Path | None
    model_id: str | None
    origin: str  # "local", "demo-tiny", "demo-full", "download", "none"
    reason: str | None = None  # why there is no model


def missing_files(directory: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (directory / name).is_file()]


def model_id_for(directory: Path, prefix: str = "xtts-v2") -> str:
    """A fingerprint that changes when the checkpoint changes, without hashing 1.9 GB at start.

    config.json and vocab.json are hashed whole; model.pth by size plus its first and last MiB
    (a different training run or a re-save changes those).
    """
    digest = hashlib.sha256()
    for name in ("config.json", "vocab.json"):
        digest.update((directory / name).read_bytes())
    weights = directory / "model.pth"
    size = weights.stat().st_size
    digest.update(str(size).encode())
    with weights.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return f"{prefix}-{digest.hexdigest()[:16]}"


def resolve_model_source(
    settings: Settings, checkpoints_dir: Path = DEFAULT_CHECKPOINTS_DIR
) -> ModelSource:
    if settings.xtts_model_dir is not None:
        return _local(settings.xtts_model_dir)
    if settings.demo_model is not None:
        return _demo(settings.demo_model, checkpoints_dir)
    downloaded = settings.models_dir / "xtts_v2"
    if downloaded.is_dir() and not missing_files(downloaded):
        return ModelSource(downloaded, model_id_for(downloaded), "download")
    if settings.coqui_tos_agreed:
        return _download(settings.hub_repo, downloaded)
    return ModelSource(None, None, "none", "No XTTS model configured. " + HOW_TO_ENABLE)


def _local(directory: Path) -> ModelSource:
    directory = directory.expanduser()
    if not directory.is_dir():
        raise ModelConfigError(
            f"XTTS_MODEL_DIR={directory} is not a directory: point it at an XTTS v2 checkpoint"
        )
    missing = missing_files(directory)
    if missing:
        raise ModelConfigError(
            f"XTTS_MODEL_DIR={directory} lacks {', '.join(missing)}: point it at a complete XTTS v2 checkpoint"
        )
    return ModelSource(directory, model_id_for(directory), "local")


def _demo(variant: str, checkpoints_dir: Path) -> ModelSource:
    directory = checkpoints_dir / variant
    if missing_files(directory):
        logger.info("building the %s random XTTS checkpoint in %s", variant, directory)
        build_checkpoint(variant, directory)
    return ModelSource(
        directory, model_id_for(directory, prefix=f"xtts-v2-random-{variant}"), f"demo-{variant}"
    )


def _download(repo: str, target: Path) -> ModelSource:
    """Download XTTS v2 from the Hugging Face hub with its terminal progress bars."""
    try:
        from huggingface_hub import snapshot_download

        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"Downloading XTTS v2 ({repo}, about 1.9 GB) into {target} ...", flush=True)
        staging = target.with_name(target.name + ".partial")
        snapshot_download(repo_id=repo, allow_patterns=HUB_FILES, local_dir=staging)
        if missing_files(staging):
            raise RuntimeError(f"the download lacks {', '.join(missing_files(staging))}")
        staging.replace(target)
    except Exception as error:  # noqa: BLE001 - offline, hub errors: the service still starts without cloning
        logger.warning("XTTS download failed: %s", error)
        return ModelSource(
            None,
            None,
            "none",
            f"Downloading XTTS v2 from the Hugging Face hub failed ({type(error).__name__}). "
            "Connect to the internet and restart, or set XTTS_MODEL_DIR to a local copy.",
        )
    return ModelSource(target, model_id_for(target), "download")
