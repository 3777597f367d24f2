// Where the page keeps its session between page loads, so a reload, or a new tab after
// the old one was closed, takes the same session back instead of being told that the
// name is already online.
//
// - `tabSession` (sessionStorage): this tab's name and resume token. A reload of the
//   tab resumes; two open tabs can still be two players.
// - `sharedGuest` (localStorage): the guest session this browser had last, with an
//   expiry: the server's grace period (`welcome.grace_seconds`) after the tab that held
//   it was last seen. A new tab uses it only when that tab is gone (closed, or silent
//   for a while), so it never takes a session away from a tab that is still open.
//   A signed-in player needs none of this: their session cookie resumes their session
//   from any tab or device.
//
// Storage can throw in locked-down browsers: then nothing is remembered.

const SHARED_KEY = "c4actors.guest";
// An open tab refreshes its entry this often; an entry not refreshed for twice as long
// belongs to a tab that is gone (a crash leaves no "closed" mark).
export const HEARTBEAT_MS = 5_000;

function read(storage, key) {
  try {
    return storage().getItem(key);
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null) storage().removeItem(key);
    else storage().setItem(key, value);
  } catch {
    /* ignore: storage unavailable */
  }
}

const session = () => sessionStorage;
const local = () => localStorage;

export const tabSession = {
  get name() {
    return read(session, "c4actors.username");
  },
  get token() {
    return read(session, "c4actors.resume");
  },
  save(name, token) {
    write(session, "c4actors.username", name);
    write(session, "c4actors.resume", token);
  },
  clear() {
    write(session, "c4actors.username", null);
    write(session, "c4actors.resume", null);
  },
};

/** The shared entries by name, keeping only well-formed ones. */
function readShared() {
  const text = read(local, SHARED_KEY);
  const entries = {};
  if (text === null) return entries;
  try {
    const all = JSON.parse(text);
    for (const [name, entry] of Object.entries(all && typeof all === "object" ? all : {})) {
      const ok =
        entry &&
        typeof entry.token === "string" &&
        Number.isFinite(entry.seen) &&
        Number.isFinite(entry.expires) &&
        typeof entry.closed === "boolean";
      if (ok) entries[name] = entry;
    }
  } catch {
    /* unreadable: start afresh */
  }
  return entries;
}

function writeShared(entries) {
  write(local, SHARED_KEY, Object.keys(entries).length ? JSON.stringify(entries) : null);
}

export const sharedGuest = {
  mine: null, // { name, token, graceMs }: the guest session this tab holds, if any

  /** This tab holds the guest session `name`/`token` now (a welcome): publish it. */
  hold(name, token, graceSeconds, now = Date.now()) {
    const graceMs = Math.max(0, Number(graceSeconds) || 0) * 1000;
    this.mine = { name, token, graceMs };
    const entries = readShared();
    entries[name] = { token, seen: now, closed: false, expires: now + graceMs };
    writeShared(entries);
  },

  /**
   * Still here (a heartbeat), or leaving (`closed`): refresh the entry and its expiry,
   * unless another tab took the session over meanwhile (its entry has another token).
   */
  touch({ closed = false, now = Date.now() } = {}) {
    const mine = this.mine;
    if (!mine) return;
    const entries = readShared();
    const entry = entries[mine.name];
    if (entry && entry.token !== mine.token) return;
    entries[mine.name] = { token: mine.token, seen: now, closed, expires: now + mine.graceMs };
    writeShared(entries);
  },

  /** This tab's session ended for good (signed out, another name, taken over). */
  forget() {
    const mine = this.mine;
    this.mine = null;
    if (!mine) return;
    const entries = readShared();
    if (entries[mine.name]?.token !== mine.token) return;
    delete entries[mine.name];
    writeShared(entries);
  },

  /**
   * The session a new tab may take back: the last one whose tab is gone (closed, or
   * silent for two heartbeats) and whose grace period is not over. Expired entries are
   * removed; those whose tab is still open are left alone.
   */
  takeable(now = Date.now()) {
    const entries = readShared();
    let best = null;
    for (const [name, entry] of Object.entries(entries)) {
      const gone = entry.closed || now - entry.seen > 2 * HEARTBEAT_MS;
      if (!gone) continue;
      if (now >= entry.expires) delete entries[name];
      else if (!best || entry.seen > best.seen) best = { name, token: entry.token, seen: entry.seen };
    }
    writeShared(entries);
    return best && { name: best.name, token: best.token };
  },
};
