// Lobby rendering: the user table, the online count, the challenge-by-name form and
// the invitations panel.
// All user-supplied text goes in through textContent only. A registered user's name
// is a button that opens their profile, with a badge that says they are registered.
//
// The server lists at most its lobby list limit of users, so the table may not show
// everyone online: the count says so, and the form challenges anyone by name.

import { validateName } from "./entry.js";
import { NO_FILTER, rowShown } from "./lobby_filter.js";
import { seekStatusText, seekingLabel, waitingGroups } from "./seeking.js";

export const STATE_LABELS = {
  AVAILABLE: "available",
  INVITATION_SENT: "inviting",
  INVITATION_RECEIVED: "invited",
  PLAYING: "playing",
  SEEKING: "looking for a game",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className, label, data) {
  const btn = el("button", `btn ${className}`, text);
  btn.type = "button";
  btn.setAttribute("aria-label", label);
  Object.assign(btn.dataset, data);
  return btn;
}

/** Self first, then case-insensitive by name: a stable order, so rows don't jump under the pointer. */
function compareUsers(me) {
  return (a, b) => {
    if (a === me) return -1;
    if (b === me) return 1;
    const la = a.toLowerCase();
    const lb = b.toLowerCase();
    if (la !== lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
}

function count(n) {
  return Number.isFinite(n) ? String(n) : "0";
}

/** 2345 -> "2,345": the page is in English. */
function thousands(n) {
  return n.toLocaleString("en");
}

/**
 * "3 online", or "2,345 online · showing 100" when the server lists fewer than are online,
 * then "· 1 looking for a game" when listed users wait to be paired.
 * @param {number|null} online the server's count of connected users (null: unknown)
 * @param {number} listed rows in the table, me included
 * @param {number} seeking rows whose state is SEEKING
 */
export function onlineText(online, listed, seeking = 0) {
  // The count can lag a tick behind the rows; never claim fewer online than shown.
  const total = Number.isInteger(online) ? Math.max(online, listed) : listed;
  let text = `${thousands(total)} online`;
  if (total > listed) text += ` · showing ${thousands(listed)}`;
  if (seeking > 0) text += ` · ${thousands(seeking)} looking for a game`;
  return text;
}

/**
 * Same name rule as the server, and not myself (names are unique case-insensitively);
 * an error message, or null when the name is worth sending.
 */
export function validateOpponent(name, me) {
  if (name.length === 0) return "Please enter the name of a player to challenge.";
  const problem = validateName(name);
  if (problem) return problem;
  if (me && name.toLowerCase() === me.toLowerCase()) return "You can't challenge yourself.";
  return null;
}

export class LobbyView {
  constructor(dom, { onChallenge, onAccept, onDecline, onCancel, onProfile, onSeek, onUnseek }) {
    this.dom = dom;
    this.rows = new Map(); // name -> row parts, updated in place to keep focus
    this.invitationItems = new Map(); // "in:name" / "out:name" -> <li>, kept like the rows
    this.handlers = { onChallenge, onAccept, onDecline, onCancel, onProfile, onSeek, onUnseek };
    this.me = null;
    this.users = new Map();
    this.emptyText = dom.emptyEl.textContent;
    // Set by app.js: a clock's short name ("3+2"), and the clock the picker shows
    // (null: untimed; undefined: an invalid custom one). Play anyone seeks that clock.
    this.controlName = (control) => String(control?.base_seconds);
    this.pickedControl = () => null;
    this.bindChallengeForm();
    this.filter = NO_FILTER;
    this.bindFilter();
    dom.seekButton.addEventListener("click", () => {
      if (dom.seekButton.disabled) return;
      if (this.users.get(this.me)?.state === "SEEKING") this.handlers.onUnseek();
      else this.handlers.onSeek();
    });

    dom.tbody.addEventListener("click", (event) => {
      const btn = event.target.closest("button[data-action]");
      if (!btn || btn.disabled) return;
      if (btn.dataset.action === "challenge") this.handlers.onChallenge(btn.dataset.user, "row");
      else if (btn.dataset.action === "profile") this.handlers.onProfile(btn.dataset.user);
    });
    dom.invitationList.addEventListener("click", (event) => {
      const btn = event.target.closest("button[data-action]");
      if (!btn || btn.disabled) return;
      const { action, user } = btn.dataset;
      if (action === "accept") this.handlers.onAccept(user);
      else if (action === "decline") this.handlers.onDecline(user);
      else if (action === "cancel") this.handlers.onCancel(user);
    });
  }

  /**
   * @param {Map<string, object>} users name -> UserInfo (includes me)
   * @param {string} me
   * @param {string|null} pendingChallenge name we just challenged (awaiting the server)
   * @param {number|null} online users connected, listed or not (null: unknown)
   * @param {boolean} seekSent a seek or unseek is on its way (awaiting my row's change)
   */
  renderUsers(users, me, pendingChallenge, online = null, seekSent = false) {
    const { tbody, emptyEl, countEl } = this.dom;
    this.me = me;
    this.users = users;
    const meInfo = users.get(me);
    // Holding an invitation does not stop me challenging someone else: the server then
    // declines the invitation held (so a challenger who re-invites cannot keep me busy).
    const myState = meInfo?.state;
    // Seeking does not stop me either: challenging someone takes me out of the pool.
    const iAmFree =
      (myState === "AVAILABLE" || myState === "INVITATION_RECEIVED" || myState === "SEEKING") && !pendingChallenge;

    for (const [name, row] of this.rows) {
      if (!users.has(name)) {
        row.tr.remove();
        this.rows.delete(name);
      }
    }

    const names = [...users.keys()].sort(compareUsers(me));
    names.forEach((name, index) => {
      const info = users.get(name);
      let row = this.rows.get(name);
      if (!row) {
        row = this.createRow(name, name === me);
        this.rows.set(name, row);
      }
      this.updateRow(row, info, name === me, iAmFree);
      // Move only rows that are out of place: moving a node would drop its focus.
      const current = tbody.children[index];
      if (current !== row.tr) tbody.insertBefore(row.tr, current ?? null);
    });

    const others = names.length - (users.has(me) ? 1 : 0);
    const unlisted = Number.isInteger(online) && online > names.length;
    emptyEl.hidden = others > 0;
    emptyEl.textContent = unlisted
      ? "Other players are online but not listed here: challenge one by name."
      : this.emptyText;
    const seeking = names.filter((name) => users.get(name)?.state === "SEEKING").length;
    countEl.textContent = onlineText(online, names.length, seeking);
    this.applyFilter();
    this.renderChallengeForm(meInfo?.state, iAmFree);
    this.seekBusy = !!pendingChallenge || seekSent;
    this.renderSeek();
  }

  /**
   * "Play anyone" while I may seek, "Stop looking" while I wait in the pool; under it, who
   * waits for which clock (the picker's clock first: that is the one a press seeks).
   */
  renderSeek() {
    const { seekButton, seekStatus } = this.dom;
    const mine = this.users.get(this.me);
    const myState = mine?.state;
    const busy = !!this.seekBusy;
    const waiting = myState === "SEEKING";
    seekButton.textContent = waiting ? "Stop looking" : "Play anyone";
    seekButton.disabled = busy || !(waiting || myState === "AVAILABLE" || myState === "INVITATION_RECEIVED");
    seekButton.title = seekButton.disabled && !busy ? "Finish your current invitation first" : "";
    const groups = waitingGroups(this.users, this.me);
    const picked = this.pickedControl();
    seekStatus.textContent = seekStatusText(myState, mine?.time_control ?? null, picked, groups, this.controlName);
  }

  // ------------------------------------------------------------------ search and filter

  bindFilter() {
    const { filterForm: form, filterName: name, filterStatus: status } = this.dom;
    if (!form) return;
    const apply = () => {
      this.filter = { text: name.value, status: status.value };
      this.applyFilter();
    };
    form.addEventListener("submit", (event) => event.preventDefault());
    name.addEventListener("input", apply);
    status.addEventListener("change", apply);
  }

  /** Hide the rows the search or the status filter leaves out (rows are kept, not rebuilt). */
  applyFilter() {
    let shown = 0;
    for (const [name, row] of this.rows) {
      const visible = rowShown(name, this.users.get(name), this.filter, this.me);
      row.tr.hidden = !visible;
      if (visible && name !== this.me) shown += 1;
    }
    const filtering = this.filter.text.trim() !== "" || this.filter.status !== "";
    if (this.dom.filterEmpty) this.dom.filterEmpty.hidden = !(filtering && shown === 0 && this.rows.size > 1);
  }

  // ------------------------------------------------------------------ challenge by name

  bindChallengeForm() {
    const { challengeForm: form, challengeInput: input } = this.dom;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.dom.challengeSubmit.disabled) return;
      const problem = validateOpponent(input.value, this.me);
      if (problem) {
        this.showChallengeError(problem);
        input.focus();
        return;
      }
      this.showChallengeError("");
      this.handlers.onChallenge(this.knownName(input.value), "form");
    });
    input.addEventListener("input", () => {
      if (this.dom.challengeError.textContent) this.showChallengeError("");
    });
  }

  /** The listed spelling of `name` if it is in the table (the server ignores case anyway). */
  knownName(name) {
    if (this.users.has(name)) return name;
    const key = name.toLowerCase();
    for (const listed of this.users.keys()) if (listed.toLowerCase() === key) return listed;
    return name;
  }

  showChallengeError(text) {
    this.dom.challengeError.textContent = text;
    this.dom.challengeInput.setAttribute("aria-invalid", text ? "true" : "false");
  }

  /**
   * A refused challenge, said beside the control that sent it: the row's button, or the
   * form (also when the row is gone meanwhile). `text` "" clears every such message.
   */
  showRowError(name, text) {
    for (const row of this.rows.values()) row.error?.remove();
    const row = this.rows.get(name);
    if (!text || !row || row.isMe) return false;
    const note = el("p", "row-error", text);
    note.setAttribute("role", "alert");
    row.actionCell.append(note);
    row.error = note;
    return true;
  }

  /** A refused answer to `from`'s invitation, said inside that invitation. */
  showInvitationError(from, text) {
    const li = this.invitationItems.get(`in:${from}`);
    if (!li) return false;
    li.querySelector(".invitation-error")?.remove();
    if (text) {
      const note = el("p", "invitation-error", text);
      note.setAttribute("role", "alert");
      li.append(note);
    }
    return true;
  }

  /** The Accept button of `from`'s invitation, or null. */
  acceptButton(from) {
    return this.invitationItems.get(`in:${from}`)?.querySelector('button[data-action="accept"]') ?? null;
  }

  /** Same rule as the rows' buttons; the input stays editable so typing is never cut off. */
  renderChallengeForm(myState, iAmFree) {
    const submit = this.dom.challengeSubmit;
    submit.disabled = !iAmFree;
    submit.title = iAmFree
      ? ""
      : myState === "PLAYING"
        ? "You are in a game"
        : "Finish your current invitation first";
  }

  /** The server took the challenge to `to`: the typed name has done its job. */
  challengeSent(to) {
    const input = this.dom.challengeInput;
    if (input.value.toLowerCase() === to.toLowerCase()) input.value = "";
    this.showChallengeError("");
  }

  /** Forget what was typed (the session ended). */
  resetChallengeForm() {
    this.dom.challengeInput.value = "";
    this.showChallengeError("");
  }

  createRow(name, isMe) {
    const tr = el("tr");
    tr.dataset.user = name;
    const nameCell = el("td", "col-name");
    if (isMe) tr.classList.add("me");
    const stateCell = el("td", "col-state");
    const pill = el("span", "pill");
    stateCell.append(pill);
    const wins = el("td", "num");
    const losses = el("td", "num");
    const draws = el("td", "num");
    // Shown as "W 3" on phones, where the header row is hidden.
    wins.dataset.label = "W";
    losses.dataset.label = "L";
    draws.dataset.label = "D";
    const actionCell = el("td", "col-action");
    let btn = null;
    if (!isMe) {
      btn = button("Challenge", "btn-small btn-primary", `Challenge ${name}`, {
        action: "challenge",
        user: name,
      });
      actionCell.append(btn);
    }
    tr.append(nameCell, stateCell, wins, losses, draws, actionCell);
    tr.setAttribute("role", "row");
    for (const td of tr.children) td.setAttribute("role", "cell");
    return { tr, pill, wins, losses, draws, btn, nameCell, actionCell, name, isMe, registered: null, error: null };
  }

  /** The name, as a profile button plus a badge when registered, then "(you)". */
  renderName(row, registered) {
    row.registered = registered;
    const { name, nameCell, isMe } = row;
    const parts = [];
    if (registered) {
      const link = el("button", "name-link", name);
      link.type = "button";
      // The visible name is inside the accessible name, so voice control can say it.
      link.setAttribute("aria-label", `View ${name}'s profile`);
      link.title = `View ${name}'s profile`;
      Object.assign(link.dataset, { action: "profile", user: name });
      const badge = el("span", "badge-registered", "★");
      badge.setAttribute("role", "img");
      badge.setAttribute("aria-label", "registered player");
      badge.title = "Registered player";
      parts.push(link, badge);
    } else {
      parts.push(el("span", "name-text", name));
    }
    if (isMe) parts.push(el("span", "you", " (you)"));
    nameCell.replaceChildren(...parts);
  }

  updateRow(row, info, isMe, iAmFree) {
    const state = info.state;
    row.tr.dataset.state = state;
    const registered = !!info.registered;
    row.tr.classList.toggle("registered", registered);
    // Rebuilt only when this changes, so a focused profile button survives updates.
    if (row.registered !== registered) this.renderName(row, registered);
    row.pill.textContent =
      state === "SEEKING"
        ? seekingLabel(info.time_control ?? null, this.controlName)
        : (STATE_LABELS[state] ?? String(state).toLowerCase());
    row.pill.dataset.state = state;
    row.wins.textContent = count(info.wins);
    row.losses.textContent = count(info.losses);
    row.draws.textContent = count(info.draws);
    if (row.btn && !isMe) {
      const enabled = iAmFree && state === "AVAILABLE";
      row.btn.disabled = !enabled;
      row.btn.title = enabled
        ? ""
        : state === "AVAILABLE"
          ? "Finish your current invitation first"
          : state === "SEEKING"
            ? `${info.name} is looking for a game: press Play anyone`
            : `${info.name} is busy`;
    }
  }

  /**
   * @param {string[]} incoming challengers, oldest first
   * @param {string|null} outgoing the user we are waiting for
   * @param {Set<string>} busy challengers whose Accept/Decline was just sent
   */
  renderInvitations(incoming, outgoing, busy) {
    const { invitations, invitationList } = this.dom;
    // Items are kept by key and only moved or added: rebuilding them on every lobby
    // update would replay their pop-in animation and drop the focus of their buttons.
    const wanted = [...incoming.map((from) => `in:${from}`), ...(outgoing ? [`out:${outgoing}`] : [])];
    for (const [key, li] of this.invitationItems) {
      if (!wanted.includes(key)) {
        li.remove();
        this.invitationItems.delete(key);
      }
    }
    wanted.forEach((key, index) => {
      let li = this.invitationItems.get(key);
      if (!li) {
        li = key.startsWith("in:") ? this.incomingItem(key.slice(3)) : this.outgoingItem(key.slice(4));
        this.invitationItems.set(key, li);
      }
      if (key.startsWith("in:")) {
        const answering = busy.has(key.slice(3));
        for (const btn of li.querySelectorAll("button")) btn.disabled = answering;
      }
      const current = invitationList.children[index];
      if (current !== li) invitationList.insertBefore(li, current ?? null);
    });
    invitations.hidden = wanted.length === 0;
  }

  incomingItem(from) {
    const li = el("li", "invitation incoming");
    li.dataset.from = from;
    const note = this.invitationNote?.(from);
    const text = el("span", "invitation-text", note ? `${from} challenges you to ${note}` : `${from} challenges you`);
    const actions = el("span", "invitation-actions");
    const accept = button("Accept", "btn-small btn-primary", `Accept challenge from ${from}`, {
      action: "accept",
      user: from,
    });
    const decline = button("Decline", "btn-small", `Decline challenge from ${from}`, {
      action: "decline",
      user: from,
    });
    actions.append(accept, decline);
    li.append(text, actions);
    return li;
  }

  outgoingItem(to) {
    const li = el("li", "invitation outgoing");
    li.dataset.to = to;
    const text = el("span", "invitation-text");
    const spinner = el("span", "spinner spinner-small");
    spinner.setAttribute("aria-hidden", "true");
    const note = this.invitationNote?.(to);
    text.append(spinner, document.createTextNode(note ? `Waiting for ${to}… (${note})` : `Waiting for ${to}…`));
    const actions = el("span", "invitation-actions");
    actions.append(button("Cancel", "btn-small", `Cancel challenge to ${to}`, { action: "cancel", user: to }));
    li.append(text, actions);
    return li;
  }
}
