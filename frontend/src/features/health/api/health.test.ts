import { describe, expect, it } from "vitest";
import { engineStateFrom } from "./health";

describe("engineStateFrom", () => {
  it("is ready when the inference service is", () => {
    const state = engineStateFrom(
      {
        status: "ok",
        inference: { ready: true, device: "cpu", model_id: "xtts-tiny", cloning_available: true },
      },
      null,
    );
    expect(state).toMatchObject({ kind: "ready", label: "Voice engine ready", cloning: true });
    expect(state.detail).toBe("Cloning and stock voices · CPU");
  });

  it("is ready without cloning and says why", () => {
    const state = engineStateFrom(
      {
        status: "ok",
        inference: { ready: true, cloning_available: false, reason: "set XTTS_MODEL_DIR" },
      },
      null,
    );
    expect(state).toMatchObject({ kind: "ready", cloning: false });
    expect(state.detail).toContain("set XTTS_MODEL_DIR");
  });

  it("is loading while the model loads", () => {
    expect(
      engineStateFrom({ status: "ok", inference: { ready: false, reason: "Loading model" } }, null)
        .kind,
    ).toBe("loading");
  });

  it("is unavailable with the reason when the service is down", () => {
    const state = engineStateFrom(
      {
        status: "ok",
        inference: { ready: false, reason: "inference service unreachable at 127.0.0.1:8000" },
      },
      null,
    );
    expect(state).toMatchObject({ kind: "unavailable" });
    expect(state.detail).toContain("unreachable");
    expect(engineStateFrom(undefined, new Error("Cannot reach the Ownvoice server")).kind).toBe(
      "unavailable",
    );
  });

  it("is unavailable, not loading, when the service is not running at all", () => {
    // The server's own advice says "start it", which must not read as "starting".
    const reason =
      "The inference service at http://127.0.0.1:8000 is not reachable (ConnectError): " +
      "start it (make start) or set OWNVOICE_INFERENCE_URL.";
    const state = engineStateFrom(
      {
        status: "ok",
        inference: { ready: false, reachable: false, code: "inference_unreachable", reason },
      },
      null,
    );
    expect(state).toMatchObject({ kind: "unavailable", label: "Voice engine unavailable" });
    expect(state.detail).toBe(reason);
  });
});
