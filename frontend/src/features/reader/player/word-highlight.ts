/**
 * The word being said: a sentence's word timings (GET .../sentences/{id}/timings, seconds into
 * the sentence's audio) and how far into that audio the listener is give the word to highlight.
 * Pure functions: the reader calls them on each tick of the player's clock.
 */

export interface TimedWord {
  word: string;
  start: number;
  end: number;
  /** The word's first character in the sentence's text. */
  offset: number;
  heard: boolean;
}

/**
 * The index of the word being said `seconds` into the audio: the last word that has started
 * (a pause between two words keeps the one just said); -1 before the first word, or when there
 * are no timings. `words` are monotonic (the server guarantees it), so this is a binary search.
 */
export function wordIndexAt(words: readonly TimedWord[], seconds: number): number {
  let low = 0;
  let high = words.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if ((words[middle]?.start ?? Number.POSITIVE_INFINITY) <= seconds) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

export interface TextPiece {
  text: string;
  /** The index of the timed word this piece is, or null for the text between words. */
  word: number | null;
}

/**
 * The sentence's text cut into its timed words and the text between them (spaces,
 * punctuation), so that each word can be its own span. Joined, the pieces are the text again;
 * a timing whose word is not at its offset is left out (the text stays whole).
 */
export function textPieces(text: string, words: readonly TimedWord[]): TextPiece[] {
  const pieces: TextPiece[] = [];
  let at = 0;
  words.forEach((timed, index) => {
    const end = timed.offset + timed.word.length;
    if (timed.offset < at || text.slice(timed.offset, end) !== timed.word) return;
    if (timed.offset > at) pieces.push({ text: text.slice(at, timed.offset), word: null });
    pieces.push({ text: timed.word, word: index });
    at = end;
  });
  if (at < text.length) pieces.push({ text: text.slice(at), word: null });
  return pieces;
}
