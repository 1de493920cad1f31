/** Converts raw signed 16-bit little-endian PCM to floats in [-1, 1). */
export function pcm16ToFloat32(bytes: ArrayBuffer): Float32Array<ArrayBuffer> {
  // A trailing odd byte (a chunk boundary mid-sample) is dropped, not misread.
  const sampleCount = Math.floor(bytes.byteLength / 2);
  const view = new DataView(bytes, 0, sampleCount * 2);
  const out = new Float32Array(sampleCount);
  for (let i = 0; i < sampleCount; i++) out[i] = view.getInt16(i * 2, true) / 32768;
  return out;
}

/** Reads the sample rate the server announced; the contract's default is 24 kHz. */
export function sampleRateFrom(headers: Headers, fallback = 24000): number {
  const fromHeader = Number(headers.get("X-Sample-Rate"));
  if (Number.isFinite(fromHeader) && fromHeader >= 8000 && fromHeader <= 192000) return fromHeader;
  const match = /rate=(\d+)/i.exec(headers.get("Content-Type") ?? "");
  return match ? Number(match[1]) : fallback;
}
