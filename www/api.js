// The JSON HTTP API ("Accounts" in docs/protocol.md): one function per endpoint.
//
// Every call resolves, never rejects, to a Reply:
//   {ok: true,  status, data}
//   {ok: false, status, code, message, retryAfter}
// `status` is 0 and `code` "network" when the server could not be reached. The session
// cookie is HttpOnly: the browser sends it (same origin), this code never sees it.

const JSON_HEADERS = { "Content-Type": "application/json" };

async function call(method, path, body) {
  // The server refuses a change (POST, PATCH) that is not JSON (403 json_required), so one
  // without a body (logout) sends an empty JSON object.
  const changes = method !== "GET";
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: changes ? JSON_HEADERS : {},
      body: changes ? JSON.stringify(body ?? {}) : undefined,
      cache: "no-store",
    });
  } catch {
    return { ok: false, status: 0, code: "network", message: "", retryAfter: null };
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      /* an empty or non-JSON body (a proxy's error page): judged by the status alone */
    }
  }
  if (response.ok) return { ok: true, status: response.status, data };
  const retry = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return {
    ok: false,
    status: response.status,
    code: typeof data?.error === "string" ? data.error : `http_${response.status}`,
    message: typeof data?.message === "string" ? data.message : "",
    retryAfter: Number.isFinite(retry) && retry >= 0 ? retry : null,
  };
}

const part = (text) => encodeURIComponent(text);

export const api = {
  /** The signed-in account; for a guest 204, so `data` is null (not an error). */
  me: () => call("GET", "/api/me"),
  register: (username, password, color) => call("POST", "/api/register", { username, password, color }),
  login: (username, password) => call("POST", "/api/login", { username, password }),
  logout: () => call("POST", "/api/logout"),
  /** Takes effect from the account's next game. */
  setColor: (color) => call("PATCH", "/api/me", { color }),
  /** A registered user's record and 20 latest games; 404 unknown_user. */
  profile: (name) => call("GET", `/api/users/${part(name)}`),
  /** A stored game: players, colours, moves, result; 404 unknown_game. */
  game: (id) => call("GET", `/api/games/${part(id)}`),
  /** A stored game's perfect-play analysis; 404 not_analysed until someone asked for it. */
  analysis: (id) => call("GET", `/api/games/${part(id)}/analysis`),
  /** The top accounts by wins, each with `ratio` (wins / games). */
  leaderboard: () => call("GET", "/api/leaderboard"),
};

/** "15 minutes", "40 seconds": a Retry-After in words. */
export function describeWait(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "a moment";
  if (seconds < 90) {
    const s = Math.max(1, Math.round(seconds));
    return `${s} second${s === 1 ? "" : "s"}`;
  }
  const minutes = Math.round(seconds / 60);
  return `${minutes} minutes`;
}

/** Words for failures that any call can meet; null for codes the caller must explain. */
export function commonProblem(reply) {
  if (reply.code === "network") return "Could not reach the server. Check your connection and try again.";
  if (reply.code === "store_unavailable") return "The server cannot reach its records right now. Try again in a moment.";
  if (reply.status >= 500) return "Something went wrong on the server. Try again in a moment.";
  return null;
}
