// The dashboard's only road to the server: the public /v1 API, with the
// token the user typed (kept in this tab's sessionStorage, never in
// localStorage or a cookie). Every request says it comes from the
// dashboard, so the server logs its actions with the token's name.

const TOKEN_KEY = "wasync.token";

/** The token of this tab ("" when none was given). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Keeps (or forgets, with "") the token for this tab. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error answered by the API: its HTTP status, code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API: `path` under /v1, a JSON `body` (or a Blob/File sent as
 * it is). Resolves to the parsed JSON (null for 204); rejects with an
 * ApiError carrying the server's `{"error": {code, message}}`.
 */
export async function api(method, path, body) {
  const headers = { "X-Wasync-Client": "dashboard" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = "application/wasm";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(`/v1${path}`, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the server cannot be reached (${e.message})`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
  }
  return data;
}

/** GET `path`. */
export const get = (path) => api("GET", path);
/** POST `body` to `path`. */
export const post = (path, body) => api("POST", path, body);

/** `?a=1&b=2` of the fields of `params` that are set. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, value);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** A queue's name in a path: the default queue is `default`. */
export function queuePath(name) {
  return encodeURIComponent(name === "" ? "default" : name);
}

/** Who this tab acts as (`GET /v1/caller`), once known. */
export let caller = null;

/** Asks the server who the token is; rejects with 401 for a wrong one. */
export async function loadCaller() {
  caller = await get("/caller");
  return caller;
}

function globMatches(glob, text) {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "s").test(text);
}

/**
 * Whether the caller may do `scope` (read, put, upload, manage, admin) in
 * `queue` (any queue when left out): what decides which buttons show.
 * The server checks again; this only spares buttons that would be refused.
 */
export function may(scope, queue) {
  if (!caller) return false;
  if (caller.admin) return true;
  if (!caller.scopes.includes(scope) && !caller.scopes.includes("admin")) return false;
  if (queue === undefined) return true;
  return caller.queues.some((glob) => globMatches(glob, queue));
}

/** Whether the caller may do server-wide operations. */
export function isAdmin() {
  return Boolean(caller && caller.admin);
}
