// Where a session went when the server gave it to another socket (close code 4000): to
// another tab of this browser, or elsewhere (another browser or device). Tabs of one browser
// tell each other, on a BroadcastChannel, each time one of them opens an account's session;
// the tab that lost it reads that news, which may come just before or just after its close.

const CHANNEL = "c4actors-sessions";
/** News older than this is not about the takeover being explained. */
const RECENT_MS = 10_000;

/** The sentence the taken-over tab shows; `where` is "tab" or "elsewhere". Pure. */
export function takenOverText(where) {
  return where === "tab"
    ? "You are now playing in another tab of this browser. Play here to take it back."
    : "You are now playing in another browser or on another device. Play here to take it back.";
}

export class TabChannel {
  /**
   * @param {{channel?: {postMessage: Function, addEventListener: Function} | null,
   *          now?: () => number, id?: string}} options injectable for tests; by default a
   *   BroadcastChannel (none where the browser has none: every takeover is then "elsewhere")
   */
  constructor({ channel, now = () => Date.now(), id = Math.random().toString(36).slice(2) } = {}) {
    this.channel = channel !== undefined ? channel : typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
    this.now = now;
    this.id = id;
    this.opened = new Map(); // account name (lower case) -> when another tab opened its session
    this.onOpenedElsewhere = null; // (name) => void, for a tab waiting to explain a takeover
    this.channel?.addEventListener("message", (event) => this.receive(event.data));
  }

  /** This tab opened `name`'s session: the tab that had it learns where it went. */
  announce(name) {
    this.channel?.postMessage({ type: "opened", name, tab: this.id });
  }

  receive(data) {
    if (!data || data.type !== "opened" || data.tab === this.id || typeof data.name !== "string") return;
    const key = data.name.toLowerCase();
    this.opened.set(key, this.now());
    this.onOpenedElsewhere?.(data.name);
  }

  /** Where `name`'s session went, as far as this tab can tell now: "tab" or "elsewhere". */
  whereWent(name) {
    const at = this.opened.get(name.toLowerCase());
    return at !== undefined && this.now() - at <= RECENT_MS ? "tab" : "elsewhere";
  }
}
