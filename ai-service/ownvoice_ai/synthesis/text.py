"""A request's texts → model-sized chunks, each text split (and, for XTTS, tokenized) once.

The language is checked here, once: XTTS must speak it. Splitting long text runs off the event
loop in a small pool (`in_text_pool`), so that many long texts at once queue for it instead of
taking every core from the device worker and the other requests.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ..engines.xtts import ChunkTokenizer, TokenizedChunk, UnsupportedLanguage
from ..errors import LanguageUnsupported, NothingToSay
from ..services import Services
from ..text import split_for_model

TEXT_THREADS = 2
_text_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)

T = TypeVar("T")


async def xtts_chunks(
    services: Services, texts: list[str], language: str
) -> list[list[TokenizedChunk]]:
    """Each text in XTTS-sized, tokenized chunks; refused when XTTS cannot speak the language or a
    text has nothing to say."""
    engine = services.xtts
    if not engine.speaks(language):
        raise LanguageUnsupported(f"XTTS does not speak '{language}'.")
    try:  # splitting long text with the tokenizer takes a while: keep it off the event loop
        per_text = await in_text_pool(
            _split_tokenized, texts, language, engine.count_tokens(language)
        )
    except UnsupportedLanguage as error:
        raise LanguageUnsupported(f"{error}.") from error
    return speakable(per_text)


async def stock_chunks(services: Services, voice_id: str, texts: list[str]) -> list[list[str]]:
    """Each text in sentences, in the stock voice's language, as the Piper engine speaks them."""
    language = services.piper.language(voice_id) if services.piper is not None else "en"
    return speakable(await in_text_pool(split_each, texts, language))


async def in_text_pool(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a worker thread, at most TEXT_THREADS at a time (one pool per event loop)."""
    loop = asyncio.get_running_loop()
    limiter = _text_limiters.get(loop)
    if limiter is None:
        limiter = _text_limiters[loop] = anyio.CapacityLimiter(TEXT_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def split_each(
    texts: list[str], language: str, count_tokens: Callable[[str], int] | None = None
) -> list[list[str]]:
    return [split_for_model(text, language, count_tokens=count_tokens) for text in texts]


def _split_tokenized(
    texts: list[str], language: str, tokenizer: ChunkTokenizer
) -> list[list[TokenizedChunk]]:
    return [
        [tokenizer.tokenized(chunk) for chunk in chunks]
        for chunks in split_each(texts, language, tokenizer)
    ]


def speakable(per_text: list[list[T]]) -> list[list[T]]:
    for index, chunks in enumerate(per_text):
        if not chunks:
            what = "The text" if len(per_text) == 1 else f"texts[{index}]"
            raise NothingToSay(f"{what} has nothing speakable in it: send words.")
    return per_text
