/** Microphone access and the recording format, with failures explained. */

export type MicProblem =
  | "insecure"
  | "unsupported"
  | "denied"
  | "no_device"
  | "busy"
  | "device_lost"
  | "unknown";

export interface MicError {
  problem: MicProblem;
  message: string;
}

export function describeMicError(error: unknown): MicError {
  const name = (error as { name?: string } | null)?.name ?? "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return {
        problem: "denied",
        message:
          "Microphone access was blocked. Click the microphone or lock icon in the address bar, allow the microphone for this site, then try again.",
      };
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return {
        problem: "no_device",
        message:
          "No microphone was found. Plug one in (or pick one in your system settings), then try again.",
      };
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return {
        problem: "busy",
        message:
          "The microphone is in use by another app or could not start. Close other apps using it, then try again.",
      };
    default:
      return {
        problem: "unknown",
        message: `The microphone could not be opened (${name || String(error)}). You can upload a recording instead.`,
      };
  }
}

/** Checks what getUserMedia needs before asking, so the message can be specific. */
export function checkRecordingSupport(win: {
  isSecureContext: boolean;
  navigator: { mediaDevices?: { getUserMedia?: unknown } };
  MediaRecorder?: unknown;
}): MicError | null {
  if (!win.isSecureContext) {
    return {
      problem: "insecure",
      message:
        "Recording needs a secure page. Open Ownvoice at https:// or at http://localhost (not a plain http:// address), or upload a recording instead.",
    };
  }
  if (!win.navigator.mediaDevices?.getUserMedia || !win.MediaRecorder) {
    return {
      problem: "unsupported",
      message:
        "This browser cannot record audio. Use a current Chrome, Edge, Firefox or Safari, or upload a recording.",
    };
  }
  return null;
}

const PREFERRED_TYPES = [
  "audio/webm;codecs=opus",
  "audio/webm",
  "audio/ogg;codecs=opus",
  "audio/mp4",
];

/** The first container the browser can record, or "" to let it choose. */
export function pickRecordingType(isSupported: (type: string) => boolean): string {
  return PREFERRED_TYPES.find((type) => isSupported(type)) ?? "";
}

export function extensionFor(mimeType: string): string {
  if (mimeType.includes("webm")) return "webm";
  if (mimeType.includes("ogg")) return "ogg";
  if (mimeType.includes("mp4") || mimeType.includes("aac")) return "m4a";
  if (mimeType.includes("wav")) return "wav";
  return "webm";
}
