"""What was heard of a book's sentences (docs/API.md, "Verification"): the book's quality
report, a sentence's word timings, and Regenerate. A sentence is keyed as the reader plays it
(the book's language, raw PCM, the voice and speed asked for), so these answer for the audio
the reader gets."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.audio import synthesizer
from app.api.deps import CurrentUser, OwnedBook, SessionDep
from app.models.book import Book, Chapter, Sentence
from app.services import quality
from app.services.heard_speech import new_seed, render_heard, spoken_as
from app.services.renders import RENDER_FORMAT
from app.services.speech import (
    SpeechRequest,
    Synthesizer,
    VoiceTarget,
    resolve_voice,
    speech_cache_key,
)

router = APIRouter(prefix="/api/books", tags=["quality"], responses={401: {}, 404: {}})

SENTENCE_NOT_FOUND = "No such sentence in this book: reload the chapter."
VoiceQuery = Query(alias="voiceId", min_length=1, max_length=128)
SpeedQuery = Query(1.0, ge=0.5, le=2.0)


class SentenceVoice(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    voice_id: str = Field(alias="voiceId", min_length=1, max_length=128)
    speed: float = Field(default=1.0, ge=0.5, le=2.0)


def as_read(book: Book, text: str, speed: float) -> SpeechRequest:
    """A sentence as the reader asks POST /api/tts for it (and render jobs render it)."""
    return SpeechRequest(
        text=text, language=book.language or "en", native_format=RENDER_FORMAT, speed=speed
    )


async def _target(request: Request, db: Session, user: CurrentUser, voice_id: str) -> VoiceTarget:
    state = request.app.state
    return await resolve_voice(db, user, voice_id, state.inference, state.elevenlabs)


def _sentence(db: Session, book: Book, sentence_id: str) -> Sentence:
    sentence = db.get(Sentence, sentence_id)
    if sentence is None or sentence.book_id != book.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=SENTENCE_NOT_FOUND)
    return sentence


@router.get("/{book_id}/quality")
async def book_quality(
    book: OwnedBook,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    voice_id: str = VoiceQuery,
    speed: float = SpeedQuery,
) -> dict:
    """What was heard of the book's sentences in this voice and speed, as cached now: the book's
    counts and each chapter's, with the sentences that failed."""
    target = await _target(request, db, user, voice_id)
    chapters = [
        (chapter.id, chapter.title)
        for chapter in db.scalars(
            select(Chapter).where(Chapter.book_id == book.id).order_by(Chapter.index)
        )
    ]
    rows = list(
        db.execute(
            select(Sentence.id, Sentence.chapter_id, Sentence.text)
            .where(Sentence.book_id == book.id)
            .order_by(Sentence.position)
        ).all()
    )
    speaker = synthesizer(request)
    template = as_read(book, "", speed)
    _, model_id = await speaker.key_for(target, template)
    heard = await asyncio.to_thread(_heard_all, speaker, target, book, speed, model_id, rows)
    return {
        "voice_id": target.voice_id,
        "speed": template.speed,
        **quality.book_quality(chapters, heard),
    }


def _heard_all(
    speaker: Synthesizer,
    target: VoiceTarget,
    book: Book,
    speed: float,
    model_id: str | None,
    rows: list,
) -> list[quality.SentenceHeard]:
    return [
        quality.SentenceHeard(
            sentence_id,
            chapter_id,
            text,
            speaker.cache.heard(speech_cache_key(target, as_read(book, text, speed), model_id)),
        )
        for sentence_id, chapter_id, text in rows
    ]


@router.get("/{book_id}/sentences/{sentence_id}/timings")
async def sentence_timings(
    book: OwnedBook,
    sentence_id: str,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    voice_id: str = VoiceQuery,
    speed: float = SpeedQuery,
) -> dict:
    """The sentence's word timings in its cached audio, and what was heard of it. `words` is
    null until the sentence was heard (a live sentence is heard shortly after it played)."""
    sentence = _sentence(db, book, sentence_id)
    target = await _target(request, db, user, voice_id)
    speaker = synthesizer(request)
    spoken = await spoken_as(speaker, target, as_read(book, sentence.text, speed))
    heard = await asyncio.to_thread(speaker.cache.heard, spoken.key)
    return {
        "sentence_id": sentence.id,
        "cached": heard is not None,
        "verification": (heard or {}).get("verification"),
        "words": (heard or {}).get("words"),
    }


@router.post("/{book_id}/sentences/{sentence_id}/regenerate")
async def regenerate_sentence(
    book: OwnedBook,
    sentence_id: str,
    body: SentenceVoice,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
) -> dict:
    """Render the sentence again through the batch path (heard, best of N takes) with a new
    seed, replacing its cache entry. Answers as GET .../timings does."""
    sentence = _sentence(db, book, sentence_id)
    target = await _target(request, db, user, body.voice_id)
    if target.engine == "elevenlabs":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="ElevenLabs voices are not rendered here: choose one of your voices or a "
            "stock voice.",
        )
    speaker = synthesizer(request)
    spoken = await spoken_as(speaker, target, as_read(book, sentence.text, body.speed))
    heard = await render_heard(speaker, spoken, new_seed(), regenerated=True)
    return {
        "sentence_id": sentence.id,
        "cached": True,
        "verification": (heard or {}).get("verification"),
        "words": (heard or {}).get("words"),
    }
