// The one way pages talk to the API (API.md): JSON in and out, the bearer token of the session,
// one refresh when a token has expired, and every error thrown as an ApiError carrying the
// API's own code and message, so pages show what the API said and never a blank page.
import { session } from "./session.js";
import { setServerClock } from "./ui.js";

let base = "/api";

export function setApiBase(url) {
  base = url.replace(/\/$/, "");
}

export class ApiError extends Error {
  constructor(status, code, message, details = {}, headers = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.headers = headers;
    // Support finds a request in the logs by its id (API.md: every answer carries X-Request-Id).
    this.requestId = headers ? headers.get("X-Request-Id") : null;
  }
}

// Idempotency keys: crypto.getRandomValues works on plain http too (randomUUID needs a secure
// context, and a phone on the LAN reaching the laptop is not one).
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function url(path, query) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const qs = search.toString();
  return base + path + (qs ? `?${qs}` : "");
}

async function send(method, path, { query, body, idempotencyKey, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const token = auth ? session.idToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url(path, query), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "NETWORK_ERROR", "The service could not be reached. Check your connection and try again.");
  }
  setServerClock(Date.parse(response.headers.get("Date")));
  const text = await response.text();
  let data = null;
  let readable = true;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      readable = false;
    }
  }
  if (response.ok && !readable) {
    throw new ApiError(response.status, "BAD_RESPONSE", "The service answered something that is not JSON. Try again shortly.",
      {}, response.headers);
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
      error.message || `The service answered ${response.status}.`, error.details, response.headers);
  }
  return data;
}

// A request as the signed-in user; an expired ID token is refreshed once and the request sent
// again. A refresh that fails ends the session (the page then asks to sign in).
export async function request(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (err) {
    if (err.status === 401 && options.auth !== false && session.refreshToken()) {
      if (await session.refresh()) return send(method, path, options);
    }
    throw err;
  }
}

export const api = {
  get: (path, query, options = {}) => request("GET", path, { ...options, query }),
  post: (path, body, options = {}) => request("POST", path, { ...options, body: body ?? {} }),
  put: (path, body, options = {}) => request("PUT", path, { ...options, body }),
  patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
  del: (path, options = {}) => request("DELETE", path, options),
  // Unauthenticated calls (sign-in, sign-up, refresh): never send a stale token.
  anonymous: (method, path, body) => send(method, path, { body, auth: false }),
};
