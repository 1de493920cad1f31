// The official ElevenLabs JavaScript SDK against an Ownvoice app server (base URL and key only):
// textToSpeech.convertWithTimestamps for one text, printed as JSON for the caller to check
// (backend/tests/test_compat_sdk.py runs it). Usage:
//   OWNVOICE_URL=http://127.0.0.1:8080 OWNVOICE_KEY=ov_... \
//     node sdk-checks/elevenlabs-timestamps.mjs VOICE_ID OUTPUT_FORMAT TEXT
import { ElevenLabsClient } from "@elevenlabs/elevenlabs-js";

const [voiceId, outputFormat, text] = process.argv.slice(2);
const client = new ElevenLabsClient({
  apiKey: process.env.OWNVOICE_KEY,
  baseUrl: process.env.OWNVOICE_URL,
});
const answer = await client.textToSpeech.convertWithTimestamps(voiceId, { text, outputFormat });
const alignment = answer.alignment;
process.stdout.write(
  JSON.stringify({
    audioBytes: Buffer.from(answer.audioBase64, "base64").length,
    characters: alignment.characters,
    starts: alignment.characterStartTimesSeconds,
    ends: alignment.characterEndTimesSeconds,
    normalized: answer.normalizedAlignment?.characters ?? null,
  }),
);
