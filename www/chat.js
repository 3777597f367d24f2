// The chat panel of the game view: the log, the input, the mute switch.
//
// Every text from a person goes in with textContent, never innerHTML. The server
// decides what is said (length, flood, who may talk, how long after the game); this
// module only draws and sends. Muting is local to this page (the server delivers
// every accepted message): a muted opponent's lines stay in the log, hidden, and show
// again when unmuted. The mute lasts while the page is open, for that opponent's name.

export const MAX_CHAT_CHARS = 140;

export class ChatView {
  constructor(dom, { onSend }) {
    this.dom = dom;
    this.me = null;
    this.opponent = null;
    this.muted = new Set(); // opponents' names, for this page's lifetime
    this.open = false;

    dom.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = dom.input.value.trim();
      if (!this.open || !text) return;
      this.showError("");
      onSend(text);
      dom.input.value = "";
    });
    dom.mute.addEventListener("click", () => this.setMuted(!this.muted.has(this.opponent)));
  }

  /** A new game: an empty log, the panel shown if the server has chat at all. */
  start(me, opponent, enabled) {
    this.me = me;
    this.opponent = opponent;
    this.open = enabled;
    this.dom.log.replaceChildren();
    this.showError("");
    this.dom.input.value = "";
    this.dom.input.disabled = false;
    this.dom.panel.hidden = !enabled;
    this.dom.mute.textContent = `Mute ${opponent}`;
    this.setMuted(this.muted.has(opponent));
  }

  /** One chat_message of this game. */
  add(msg) {
    const mine = msg.from === this.me;
    const item = document.createElement("li");
    item.className = mine ? "chat-line mine" : "chat-line theirs";
    const who = document.createElement("span");
    who.className = "chat-from";
    who.textContent = mine ? "You" : String(msg.from ?? "");
    const what = document.createElement("span");
    what.className = "chat-text";
    what.textContent = String(msg.text ?? "");
    item.append(who, ": ", what);
    const at = Number(msg.at);
    if (Number.isFinite(at)) item.title = new Date(at * 1000).toLocaleTimeString();
    this.dom.log.append(item);
    // Keep the newest line in view (the log scrolls on its own, not the page).
    this.dom.log.scrollTop = this.dom.log.scrollHeight;
  }

  setMuted(muted) {
    const { dom } = this;
    if (this.opponent) {
      if (muted) this.muted.add(this.opponent);
      else this.muted.delete(this.opponent);
    }
    dom.log.classList.toggle("hide-theirs", muted);
    dom.mute.setAttribute("aria-pressed", String(muted));
    dom.mute.textContent = muted ? `Unmute ${this.opponent}` : `Mute ${this.opponent}`;
    dom.mutedNote.hidden = !muted;
  }

  showError(text) {
    this.dom.error.textContent = text;
  }

  /** The player left the game view: nothing more of that game's chat is shown. */
  reset() {
    this.open = false;
    this.opponent = null;
    this.dom.panel.hidden = true;
    this.dom.log.replaceChildren();
    this.showError("");
    this.dom.input.value = "";
  }
}
