"""Synthesis: from a request's voice, texts and options to a job on the device worker.

The pipeline, one module per step (the API routes in api/ only parse, call `start_stream` or
`start_batch`, and turn the results into HTTP):

- `voices`:   which voice, and its kind (stock voice or uploaded clone), decided once;
- `options`:  the request's options over the defaults (`engines.base.SynthesisOptions`);
- `text`:     language check and splitting (tokenized once for XTTS), off the event loop;
- `jobs`:     the job generators per engine, streamed or batched, and batch assembly;
- `audio`:    resampling every engine to the one output rate;
- `pipeline`: queueing on the device worker and waiting for the stream header.
"""

from __future__ import annotations

from .audio import OUTPUT_SAMPLE_RATE
from .jobs import Heartbeat, Meta, TextAudio
from .options import synthesis_options
from .pipeline import Started, start_batch, start_stream
from .voices import STOCK_PREFIX, Voice, VoiceKind, check_upload_id, resolve_voice

__all__ = [
    "OUTPUT_SAMPLE_RATE",
    "STOCK_PREFIX",
    "Heartbeat",
    "Meta",
    "Started",
    "TextAudio",
    "Voice",
    "VoiceKind",
    "check_upload_id",
    "resolve_voice",
    "start_batch",
    "start_stream",
    "synthesis_options",
]
