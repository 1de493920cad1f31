"""Loading an XTTS v2 checkpoint directory (config.json, model.pth, vocab.json) for the service.

The random checkpoints that tests, the demo mode and the benchmark use are built by
`random_checkpoints.py`; they load through this same loader.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def load_checkpoint(checkpoint_dir: Path, device: str = "cpu"):
    """Load a checkpoint directory through coqui-tts's real loader (the path a download takes)."""
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    config = XttsConfig()
    config.load_json(str(checkpoint_dir / "config.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # init_from_config's deprecation notice
        model = Xtts.init_from_config(config)
    model.load_checkpoint(config, checkpoint_dir=str(checkpoint_dir), eval=True)
    return model.to(device)
