/**
 * Friendly names for the API's types. Most come from api-types.ts, which
 * `npm run gen:api` generates from the backend's OpenAPI schema; the few the
 * schema leaves untyped (health, the quality report) are written out here
 * from docs/API.md.
 */
import type { components } from "./api-types";

type Schemas = components["schemas"];

export type User = Schemas["UserOut"];
export type ApiKey = Schemas["KeyOut"];
export type ApiKeyCreated = Schemas["NewKeyOut"];
export type StockVoice = Schemas["StockVoiceOut"];
export type ExternalVoice = Schemas["ElevenLabsVoiceOut"];
export type BookSummary = Schemas["BookListItem"];
export type Book = Schemas["BookDetail"];
export type ChapterSummary = Schemas["ChapterSummary"];
export type Chapter = Schemas["ChapterDetail"];
export type Sentence = Schemas["SentenceOut"];
export type Progress = Schemas["Progress"];
export type ProgressUpdate = Schemas["ProgressUpdate"];
export type TtsRequest = Schemas["TtsIn"];

export interface QualityWarning {
  code: string;
  message: string;
}

/** The inference service's report on a prepared recording (docs/API.md). */
export interface QualityReport {
  speech_seconds: number;
  duration_seconds: number;
  snr_db: number | null;
  snr_db_before?: number | null;
  clipping_ratio: number;
  loudness_lufs: number | null;
  noise_reduced?: boolean;
  warnings: QualityWarning[];
}

export type Voice = Omit<Schemas["VoiceOut"], "report"> & { report: QualityReport | null };
export type VoiceList = Omit<Schemas["VoiceListOut"], "voices"> & { voices: Voice[] };
export type VoiceUploadResponse = { voice: Voice; report: QualityReport };

export interface InferenceEngine {
  available: boolean;
  model_id: string | null;
  device: string;
  dtype: string;
  reason: string | null;
}

/** GET /api/health: the app server's status; the inference service's readiness only for a
 * signed-in caller (anonymous callers get just `{status: "ok"}`). */
export interface Health {
  status: string;
  inference?: {
    ready: boolean;
    /** false: the inference service is not running (or not reachable); true: it answered. */
    reachable?: boolean;
    code?: string;
    reason?: string | null;
    engines?: Record<string, InferenceEngine>;
    device?: string;
    dtype?: string;
    model_id?: string | null;
    cloning_available?: boolean;
  };
}

/** The seed's special voice id: "this user's own default voice". */
export const MY_VOICE_ID = "custom_user_voice";

export type ServerPreferences = Schemas["Preferences"];
export type AdminUser = Schemas["AdminUserOut"];
export type CacheStatus = Schemas["CacheStatus"];
export type Integrations = Schemas["Integrations"];
