import { env } from "./env";

/** An API failure with a message fit to show the user. status 0 = no response. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  /** The server's Retry-After, in seconds, when it sent one. */
  readonly retryAfterSeconds: number | null;

  constructor(
    status: number,
    message: string,
    code: string | null = null,
    retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const FALLBACK_MESSAGES: Record<number, string> = {
  400: "The request was not accepted. Check what you entered and try again.",
  401: "Your session has ended. Sign in again.",
  403: "You don't have access to this.",
  404: "That item no longer exists. Refresh the page.",
  413: "That file is too large.",
  415: "That file type is not supported.",
  429: "Too many requests right now. Wait a moment and try again.",
  503: "The voice engine is busy or unavailable. Try again shortly.",
};

interface ValidationItem {
  loc?: unknown[];
  msg?: string;
}

/** Turns any error body shape the servers use into one readable message. */
export function messageFromBody(body: unknown): { message: string | null; code: string | null } {
  if (body === null || typeof body !== "object") return { message: null, code: null };
  const record = body as Record<string, unknown>;
  const detail = record.detail ?? record.error;
  // /api errors: {"detail": "<message>", "code"?: "<snake_case>"}
  const topCode = typeof record.code === "string" ? record.code : null;
  if (typeof detail === "string") return { message: detail, code: topCode };
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: ["body", "name"], msg: "Field required"}]
    const parts = (detail as ValidationItem[]).map((item) => {
      const field = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
      return field ? `${field}: ${item.msg ?? "invalid"}` : (item.msg ?? "invalid");
    });
    return { message: parts.join("; ") || null, code: "validation_error" };
  }
  if (detail && typeof detail === "object") {
    const nested = detail as Record<string, unknown>;
    const message = typeof nested.message === "string" ? nested.message : null;
    const code =
      typeof nested.code === "string"
        ? nested.code
        : typeof nested.status === "string"
          ? nested.status
          : null;
    return { message, code };
  }
  if (typeof record.message === "string") return { message: record.message, code: null };
  return { message: null, code: null };
}

/**
 * Retry-After in seconds from now: delta-seconds ("3") or an HTTP-date ("Wed, 21 Oct 2026
 * 07:28:00 GMT", counted from `nowMs`); null when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  const text = value?.trim() ?? "";
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10);
  const at = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN; // a date names its day
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

export async function errorFromResponse(
  response: Response,
  nowMs: number = Date.now(),
): Promise<ApiError> {
  let body: unknown = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const { message, code } = messageFromBody(body);
  const fallback =
    FALLBACK_MESSAGES[response.status] ??
    (response.status >= 500
      ? "The server hit a problem. Try again; if it keeps happening, check the server log."
      : `Request failed (${response.status}).`);
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"), nowMs);
  return new ApiError(response.status, message ?? fallback, code, retryAfter);
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Lets the session layer react when any call finds the session gone. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  /** Don't broadcast a 401 (the login call itself expects them). */
  quietUnauthorized?: boolean;
  /** Let the request outlive the page (saving position on reload or close). */
  keepalive?: boolean;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** `clock` (ms since the epoch) reads Retry-After dates; tests pass a fixed one. */
export function createApiClient(
  fetchImpl: FetchLike,
  baseUrl: string,
  clock: () => number = Date.now,
) {
  async function send(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = options.form;
    }
    let response: Response;
    try {
      response = await fetchImpl(`${baseUrl}${path}`, {
        method: options.method ?? (body ? "POST" : "GET"),
        headers,
        body,
        credentials: "same-origin",
        signal: options.signal,
        keepalive: options.keepalive,
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(
        0,
        "Cannot reach the Ownvoice server. Check that it is running and your connection, then try again.",
        "network_error",
      );
    }
    if (!response.ok) {
      const apiError = await errorFromResponse(response, clock());
      if (response.status === 401 && !options.quietUnauthorized) {
        for (const listener of unauthorizedListeners) listener();
      }
      throw apiError;
    }
    return response;
  }

  async function json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await send(path, options);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return { send, json };
}

export const api = createApiClient((input, init) => fetch(input, init), env.apiBaseUrl);
