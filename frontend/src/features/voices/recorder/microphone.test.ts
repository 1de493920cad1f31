import { describe, expect, it } from "vitest";
import {
  checkRecordingSupport,
  describeMicError,
  extensionFor,
  pickRecordingType,
} from "./microphone";

describe("describeMicError", () => {
  it("explains a denied permission with what to click", () => {
    const error = describeMicError(new DOMException("Permission denied", "NotAllowedError"));
    expect(error.problem).toBe("denied");
    expect(error.message).toMatch(/allow the microphone/);
  });

  it("explains a missing device", () => {
    expect(describeMicError(new DOMException("none", "NotFoundError")).problem).toBe("no_device");
  });

  it("explains a busy device", () => {
    expect(describeMicError(new DOMException("busy", "NotReadableError")).problem).toBe("busy");
  });

  it("still says something useful for unknown errors", () => {
    const error = describeMicError(new Error("weird"));
    expect(error.problem).toBe("unknown");
    expect(error.message).toMatch(/upload a recording/);
  });
});

describe("checkRecordingSupport", () => {
  const capable = {
    navigator: { mediaDevices: { getUserMedia: () => undefined } },
    MediaRecorder: class {},
  };

  it("refuses insecure contexts with the fix", () => {
    expect(checkRecordingSupport({ ...capable, isSecureContext: false })?.problem).toBe("insecure");
  });

  it("refuses browsers without recording", () => {
    expect(checkRecordingSupport({ isSecureContext: true, navigator: {} })?.problem).toBe(
      "unsupported",
    );
  });

  it("accepts a capable secure browser", () => {
    expect(checkRecordingSupport({ ...capable, isSecureContext: true })).toBeNull();
  });
});

describe("recording type", () => {
  it("prefers webm/opus, then falls back", () => {
    expect(pickRecordingType(() => true)).toBe("audio/webm;codecs=opus");
    expect(pickRecordingType((t) => t === "audio/mp4")).toBe("audio/mp4");
    expect(pickRecordingType(() => false)).toBe("");
  });

  it("names files by container", () => {
    expect(extensionFor("audio/webm;codecs=opus")).toBe("webm");
    expect(extensionFor("audio/ogg;codecs=opus")).toBe("ogg");
    expect(extensionFor("audio/mp4")).toBe("m4a");
  });
});
