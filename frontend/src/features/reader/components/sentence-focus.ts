/**
 * Keyboard reach for the chapter's sentences (a roving tab stop): Tab enters the text once, on
 * the sentence last focused there, else the one being read, else the first; ↑/↓ move between
 * sentences, Home/End jump to the first/last, Enter or Space plays from the focused one.
 */

/** The one sentence of the chapter that is in the Tab order. */
export function tabStopKey(
  keys: readonly string[],
  focusedKey: string | null,
  currentKey: string | null,
): string | null {
  if (focusedKey !== null && keys.includes(focusedKey)) return focusedKey;
  if (currentKey !== null && keys.includes(currentKey)) return currentKey;
  return keys[0] ?? null;
}

/** Where a key press on sentence `from` moves the focus; null for keys that do not move it. */
export function movedFocusKey(keys: readonly string[], from: string, key: string): string | null {
  const index = keys.indexOf(from);
  if (index < 0) return null;
  switch (key) {
    case "ArrowDown":
      return keys[Math.min(index + 1, keys.length - 1)] ?? null;
    case "ArrowUp":
      return keys[Math.max(index - 1, 0)] ?? null;
    case "Home":
      return keys[0] ?? null;
    case "End":
      return keys[keys.length - 1] ?? null;
    default:
      return null;
  }
}
