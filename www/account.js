// What a signed-in player sees of their account: "My profile" and "Sign out" in the
// header, and the token colour picker in the lobby (PATCH /api/me, saved at once).
// Guests see none of it.

import { api, commonProblem } from "./api.js";
import { checkColor, colorLabel, paintSwatch, renderSwatches } from "./colors.js";
import { errorText } from "./messages.js";

/** The account's elements: the header bar, the lobby's colour card, the greeting. */
export function findAccountDom() {
  const byId = (id) => document.getElementById(id);
  return {
    bar: byId("account-bar"),
    profile: byId("my-profile"),
    signOut: byId("sign-out"),
    card: byId("account-card"),
    colors: byId("color-swatches"),
    status: byId("color-status"),
    greeting: byId("greeting"),
  };
}

export class AccountPanel {
  /**
   * @param {object} dom see index.html: #account-bar, #account-card, #greeting
   * @param {{onProfile: (name: string) => void, onSignOut: () => void}} handlers
   */
  constructor(dom, { onProfile, onSignOut }) {
    this.dom = dom;
    this.account = null; // {name, color, ...} as the API returns it
    this.saving = false; // a colour request is on its way
    this.wanted = null; // the colour last picked
    this.session = 0; // bumped on sign-out: replies for an earlier account are ignored
    this.radios = renderSwatches(dom.colors, { group: "account-color", describedBy: "color-status" });
    dom.profile.addEventListener("click", () => {
      if (this.account) onProfile(this.account.name);
    });
    dom.signOut.addEventListener("click", () => onSignOut());
    dom.colors.addEventListener("change", (event) => {
      if (event.target.name === "account-color") this.pickColor(event.target.value);
    });
  }

  get signedIn() {
    return this.account !== null;
  }

  /** Signed in as `account` (from /api/me, login or register). */
  show(account) {
    this.account = account;
    checkColor(this.radios, account.color);
    this.setStatus("");
    this.paintGreeting();
    this.dom.card.hidden = false;
  }

  /** Signed out: forget the account and hide everything that belonged to it. */
  hide() {
    this.account = null;
    this.session += 1;
    this.dom.card.hidden = true;
    this.dom.bar.hidden = true;
    this.dom.greeting.classList.remove("account");
  }

  /** The header buttons belong to the lobby-side views, not to a game or the first screen. */
  setBarVisible(visible) {
    this.dom.bar.hidden = !(visible && this.signedIn);
  }

  /** The colour dot before "Hello name". */
  paintGreeting() {
    this.dom.greeting.classList.toggle("account", this.signedIn);
    if (this.account) paintSwatch(this.dom.greeting, this.account.color);
  }

  /**
   * Save `color`. Requests go one at a time, the latest choice last: arrowing through
   * the radios fires a change per colour, and parallel PATCHes could land in any order.
   */
  async pickColor(color) {
    this.wanted = color;
    if (this.saving || !this.account) return;
    this.saving = true;
    this.setStatus("Saving…");
    const session = this.session;
    let failed = null;
    while (this.wanted !== this.account.color) {
      const reply = await api.setColor(this.wanted);
      if (session !== this.session) break; // signed out meanwhile
      if (!reply.ok) {
        failed = reply;
        break;
      }
      this.account = { ...this.account, ...reply.data };
    }
    this.saving = false;
    if (session !== this.session) return;
    // Show what the server has: the new colour, or the old one after a failure.
    checkColor(this.radios, this.account.color);
    this.paintGreeting();
    if (!failed) {
      this.setStatus(`Saved: ${colorLabel(this.account.color)} from your next game.`);
      return;
    }
    const text =
      failed.code === "not_signed_in"
        ? "Your sign-in has expired: sign out and sign in again to change colours."
        : (commonProblem(failed) ?? `Could not save the colour: ${errorText(failed.code)}`);
    this.setStatus(text, true);
  }

  setStatus(text, isError = false) {
    this.dom.status.textContent = text;
    this.dom.status.classList.toggle("form-error", isError);
  }
}
