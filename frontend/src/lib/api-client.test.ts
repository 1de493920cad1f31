import { describe, expect, it, vi } from "vitest";
import {
  ApiError,
  createApiClient,
  messageFromBody,
  onUnauthorized,
  parseRetryAfter,
} from "./api-client";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("messageFromBody", () => {
  it("reads FastAPI string details", () => {
    expect(messageFromBody({ detail: "Wrong username or password." })).toEqual({
      message: "Wrong username or password.",
      code: null,
    });
  });

  it("reads the inference service's coded details", () => {
    expect(
      messageFromBody({ detail: { code: "too_short", message: "Record at least 20 s." } }),
    ).toEqual({ message: "Record at least 20 s.", code: "too_short" });
  });

  it("reads ElevenLabs-shaped details", () => {
    expect(
      messageFromBody({ detail: { status: "voice_not_found", message: "No such voice" } }),
    ).toEqual({ message: "No such voice", code: "voice_not_found" });
  });

  it("joins validation errors with their field names", () => {
    const body = {
      detail: [
        { loc: ["body", "name"], msg: "Field required" },
        { loc: ["body", "language"], msg: "Invalid" },
      ],
    };
    expect(messageFromBody(body).message).toBe("name: Field required; language: Invalid");
  });

  it("returns nothing for bodies it does not understand", () => {
    expect(messageFromBody("oops")).toEqual({ message: null, code: null });
    expect(messageFromBody({ unrelated: 1 })).toEqual({ message: null, code: null });
  });
});

describe("createApiClient", () => {
  it("sends JSON and parses JSON", async () => {
    const fetchImpl = vi.fn(async () => jsonResponse(200, { ok: true }));
    const client = createApiClient(fetchImpl, "/base");
    await expect(client.json("/api/x", { json: { a: 1 } })).resolves.toEqual({ ok: true });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/base/api/x");
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"a":1}');
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("returns undefined for 204", async () => {
    const client = createApiClient(async () => new Response(null, { status: 204 }), "");
    await expect(client.json("/api/keys/1", { method: "DELETE" })).resolves.toBeUndefined();
  });

  it("raises ApiError with the server's message and status", async () => {
    const client = createApiClient(
      async () =>
        jsonResponse(415, { detail: { code: "unreadable_audio", message: "Not audio." } }),
      "",
    );
    const error = await client.json("/api/voice/upload").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(415);
    expect((error as ApiError).message).toBe("Not audio.");
    expect((error as ApiError).code).toBe("unreadable_audio");
  });

  it("carries the /api error code and the Retry-After seconds", async () => {
    const client = createApiClient(
      async () =>
        new Response(
          JSON.stringify({ detail: "The engine is not reachable.", code: "inference_unreachable" }),
          { status: 503, headers: { "Retry-After": "5" } },
        ),
      "",
    );
    const error = (await client.json("/api/tts").catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe("The engine is not reachable.");
    expect(error.code).toBe("inference_unreachable");
    expect(error.retryAfterSeconds).toBe(5);
  });

  it("reads a Retry-After HTTP-date as seconds from the client's clock", async () => {
    const now = Date.parse("2026-11-29T12:00:00Z");
    const client = createApiClient(
      async () =>
        new Response(null, {
          status: 429,
          headers: { "Retry-After": "Sun, 29 Nov 2026 12:00:03 GMT" },
        }),
      "",
      () => now,
    );
    const error = (await client.json("/api/tts").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(3);
  });

  it("falls back to a helpful message when the body is not JSON", async () => {
    const client = createApiClient(
      async () => new Response("<html>bad gateway</html>", { status: 502 }),
      "",
    );
    const error = (await client.json("/api/books").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.message).toMatch(/server hit a problem/);
  });

  it("turns network failures into status 0 with advice", async () => {
    const client = createApiClient(async () => {
      throw new TypeError("Failed to fetch");
    }, "");
    const error = (await client.json("/api/books").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/Cannot reach the Ownvoice server/);
  });

  it("lets aborts through untouched", async () => {
    const client = createApiClient(async () => {
      throw new DOMException("aborted", "AbortError");
    }, "");
    const error = await client.json("/api/books").catch((e: unknown) => e);
    expect((error as DOMException).name).toBe("AbortError");
  });

  it("broadcasts 401 unless asked to stay quiet", async () => {
    const listener = vi.fn();
    const stop = onUnauthorized(listener);
    const client = createApiClient(async () => jsonResponse(401, { detail: "Not signed in" }), "");
    await client.json("/api/books").catch(() => undefined);
    expect(listener).toHaveBeenCalledTimes(1);
    await client.json("/api/auth/login", { quietUnauthorized: true }).catch(() => undefined);
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-29T12:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("3", now)).toBe(3);
    expect(parseRetryAfter(" 120 ", now)).toBe(120);
  });

  it("reads an HTTP-date relative to now, a past one as 0", () => {
    expect(parseRetryAfter("Sun, 29 Nov 2026 12:00:10 GMT", now)).toBe(10);
    expect(parseRetryAfter("Sun, 29 Nov 2026 11:59:00 GMT", now)).toBe(0);
  });

  it("ignores what it cannot read", () => {
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter("", now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("-5", now)).toBeNull();
  });
});
