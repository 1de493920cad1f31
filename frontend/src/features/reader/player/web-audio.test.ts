import { describe, expect, it } from "vitest";
import { ApiError } from "@/lib/api-client";
import { EngineDownError } from "./playback-queue";
import { asEngineDown } from "./web-audio";

describe("asEngineDown", () => {
  it("turns the server's engine-down 503 into EngineDownError with its Retry-After", () => {
    const error = asEngineDown(
      new ApiError(503, "The inference service is not reachable.", "inference_unreachable", 5),
    );
    expect(error).toBeInstanceOf(EngineDownError);
    expect(error).toMatchObject({ kind: "engine", retryAfterSeconds: 5 });
  });

  it("treats an unreachable app server as an outage too", () => {
    const error = asEngineDown(
      new ApiError(0, "Cannot reach the Ownvoice server.", "network_error"),
    );
    expect(error).toMatchObject({ kind: "server" });
  });

  it("leaves failures of the sentence itself alone", () => {
    for (const original of [
      new ApiError(400, "Nothing to say.", null),
      new ApiError(503, "Busy.", "busy", 2),
      new TypeError("network error while reading the body"),
    ]) {
      expect(asEngineDown(original)).toBe(original);
    }
  });
});
