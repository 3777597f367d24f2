// The first screen: three ways in (play as a guest, sign in, register), as tabs.
// The forms check what the server checks, so most mistakes never make a round trip;
// the server's refusals are shown next to the field they concern. Signing in and
// registering happen here (HTTP); joining the lobby is app.js's job, told through
// onGuest(name) and onSignedIn(account).
//
// A second face of the screen, "signed in", is for an account whose lobby session was
// refused (e.g. it is already online in another browser): retry, or sign out.

import { api, commonProblem, describeWait } from "./api.js";
import { checkedColor, renderSwatches } from "./colors.js";
import { CONFIG } from "./config.js";
import { errorText } from "./messages.js";

// The server's rules (GET /api/config), never copies of them.
export const NAME_RE = new RegExp(CONFIG.name.pattern);
const MAX_NAME = CONFIG.name.max_length;
const PASSWORD_MIN = CONFIG.password.min_length;
const PASSWORD_MAX = CONFIG.password.max_length;
const TABS = ["guest", "signin", "register"];

/** Same rule as the server; returns an error message, or null when the name is fine. */
export function validateName(name) {
  if (name.length === 0) return "Please enter a name.";
  if (name.length > MAX_NAME) return `That name is too long: at most ${MAX_NAME} characters (it has ${name.length}).`;
  if (!NAME_RE.test(name)) return "Use only letters, digits, _ and - (no spaces or other characters).";
  return null;
}

/** Same rule as the server (a length in characters); an error message, or null. */
export function validatePassword(password) {
  const length = [...password].length; // the server counts characters, not UTF-16 units
  if (length === 0) return "Please enter a password.";
  if (length < PASSWORD_MIN) return `That password is too short: at least ${PASSWORD_MIN} characters (it has ${length}).`;
  if (length > PASSWORD_MAX) return `That password is too long: at most ${PASSWORD_MAX} characters (it has ${length}).`;
  return null;
}

/**
 * A form's error messages: one under each field that has its own, one for the form.
 * At most one is shown at a time, and its field is marked aria-invalid.
 */
class FormErrors {
  /**
   * @param {HTMLElement} formError the form's message line
   * @param {Object<string, {input: HTMLElement, error?: HTMLElement}>} fields by key;
   *   `input` is an input, or the fieldset of a radio group
   */
  constructor(formError, fields) {
    this.formError = formError;
    this.fields = fields;
  }

  /** Show `text` against `field` (a key of `fields`), or against the form when null. */
  show(text, field = null) {
    const target = (field && this.fields[field]?.error) || this.formError;
    for (const el of this.messageElements()) el.textContent = el === target ? text : "";
    for (const [key, { input }] of Object.entries(this.fields)) {
      input.setAttribute("aria-invalid", text && key === field ? "true" : "false");
    }
  }

  clear() {
    this.show("");
  }

  get shown() {
    return this.messageElements().some((el) => el.textContent !== "");
  }

  messageElements() {
    const fieldErrors = Object.values(this.fields).map(({ error }) => error);
    return [this.formError, ...fieldErrors].filter(Boolean);
  }
}

/** The first screen's elements (index.html, #name-view). */
export function findEntryDom() {
  const byId = (id) => document.getElementById(id);
  return {
    ways: byId("entry-ways"),
    tablist: byId("entry-tabs"),
    tabs: { guest: byId("tab-guest"), signin: byId("tab-signin"), register: byId("tab-register") },
    panels: { guest: byId("panel-guest"), signin: byId("panel-signin"), register: byId("panel-register") },
    guest: {
      form: byId("name-form"),
      input: byId("name-input"),
      submit: byId("name-submit"),
      error: byId("name-error"),
      offer: byId("name-signin-offer"),
      offerButton: byId("name-signin"),
    },
    signin: {
      form: byId("signin-form"),
      username: byId("signin-username"),
      password: byId("signin-password"),
      usernameError: byId("signin-username-error"),
      passwordError: byId("signin-password-error"),
      submit: byId("signin-submit"),
      error: byId("signin-error"),
    },
    register: {
      form: byId("register-form"),
      username: byId("register-username"),
      password: byId("register-password"),
      colors: byId("register-colors"),
      colorGroup: byId("register-color-group"),
      usernameError: byId("register-username-error"),
      passwordError: byId("register-password-error"),
      colorError: byId("register-color-error"),
      submit: byId("register-submit"),
      error: byId("register-error"),
    },
    account: {
      panel: byId("entry-account"),
      name: byId("entry-account-name"),
      error: byId("entry-account-error"),
      play: byId("entry-account-play"),
      signOut: byId("entry-account-signout"),
    },
  };
}

export class EntryView {
  /**
   * @param {object} dom see index.html, #name-view
   * @param {{onGuest: (name: string) => void, onSignedIn: (account: object) => void,
   *          onAccountPlay: () => void, onSignOut: () => void}} handlers
   */
  constructor(dom, handlers) {
    this.dom = dom;
    this.handlers = handlers;
    this.tab = "guest";
    const { guest, signin, register } = dom;
    this.guestErrors = new FormErrors(guest.error, { name: { input: guest.input } });
    this.signinErrors = new FormErrors(signin.error, {
      username: { input: signin.username, error: signin.usernameError },
      password: { input: signin.password, error: signin.passwordError },
    });
    this.registerErrors = new FormErrors(register.error, {
      username: { input: register.username, error: register.usernameError },
      password: { input: register.password, error: register.passwordError },
      color: { input: register.colorGroup, error: register.colorError },
    });
    this.colorRadios = renderSwatches(dom.register.colors, { group: "register-color" });
    this.bindTabs();
    this.bindGuest();
    this.bindSignIn();
    this.bindRegister();
    dom.account.play.addEventListener("click", () => handlers.onAccountPlay());
    dom.account.signOut.addEventListener("click", () => handlers.onSignOut());
  }

  // ------------------------------------------------------------------ tabs

  bindTabs() {
    const { tabs } = this.dom;
    for (const name of TABS) {
      tabs[name].addEventListener("click", () => this.selectTab(name, { focusField: false }));
    }
    // The WAI-ARIA tabs pattern: arrows move between tabs (and show them), Tab leaves.
    this.dom.tablist.addEventListener("keydown", (event) => {
      const at = TABS.indexOf(this.tab);
      const next = {
        ArrowLeft: (at + TABS.length - 1) % TABS.length,
        ArrowRight: (at + 1) % TABS.length,
        Home: 0,
        End: TABS.length - 1,
      }[event.key];
      if (next === undefined || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      this.selectTab(TABS[next], { focusField: false });
      tabs[TABS[next]].focus();
    });
  }

  /** Show one way in; by default put the cursor in its first field. */
  selectTab(name, { focusField = true } = {}) {
    this.tab = name;
    for (const key of TABS) {
      const on = key === name;
      this.dom.tabs[key].setAttribute("aria-selected", String(on));
      this.dom.tabs[key].tabIndex = on ? 0 : -1;
      this.dom.panels[key].hidden = !on;
    }
    if (focusField) this.focusFirstField();
  }

  focusFirstField() {
    const { guest, signin, register } = this.dom;
    if (this.tab === "guest") guest.input.focus();
    else if (this.tab === "signin") (signin.username.value ? signin.password : signin.username).focus();
    else register.username.focus();
  }

  /**
   * Show the three ways in (not the signed-in face).
   * @param {{tab?: string, username?: string}} options open this tab, with this name filled in
   */
  show({ tab = this.tab, username = null } = {}) {
    this.dom.ways.hidden = false;
    this.dom.account.panel.hidden = true;
    if (username !== null) {
      if (tab === "signin") this.dom.signin.username.value = username;
      if (tab === "guest") this.dom.guest.input.value = username;
    }
    this.selectTab(tab);
  }

  /** The signed-in face: `account` could not join the lobby, for the reason `text`. */
  showAccount(account, text) {
    const { account: dom } = this.dom;
    this.dom.ways.hidden = true;
    dom.panel.hidden = false;
    dom.name.textContent = account.name;
    dom.play.textContent = `Play as ${account.name}`;
    dom.error.textContent = text;
    this.setAccountBusy(false);
    dom.play.focus();
  }

  setAccountBusy(busy) {
    const { account: dom } = this.dom;
    dom.play.disabled = busy;
    dom.signOut.disabled = busy;
  }

  /** The lobby session is open: release every busy form, forget typed passwords. */
  settled() {
    this.guestBusy(false);
    this.setFormBusy("signin", false);
    this.setFormBusy("register", false);
    this.setAccountBusy(false);
    this.dom.signin.password.value = "";
    this.dom.register.password.value = "";
    this.guestErrors.clear();
  }

  // ------------------------------------------------------------------ guest

  bindGuest() {
    const { guest } = this.dom;
    guest.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = guest.input.value;
      const problem = validateName(name);
      if (problem) {
        this.guestErrors.show(problem, "name");
        guest.input.focus();
        return;
      }
      this.guestErrors.clear();
      guest.offer.hidden = true;
      this.guestBusy(true);
      this.handlers.onGuest(name);
    });
    guest.input.addEventListener("input", () => {
      if (this.guestErrors.shown) this.guestErrors.clear();
      guest.offer.hidden = true;
    });
    guest.offerButton.addEventListener("click", () => {
      this.dom.signin.username.value = guest.offerButton.dataset.user ?? "";
      this.signinErrors.clear();
      this.selectTab("signin");
    });
  }

  guestBusy(busy) {
    const { guest } = this.dom;
    guest.submit.disabled = busy;
    guest.input.readOnly = busy;
    guest.submit.textContent = busy ? "Connecting…" : "Play";
  }

  /**
   * The server refused the guest name (`code` from its error). For a registered name,
   * offer to sign in under it instead.
   */
  guestRefused(name, text, code) {
    const { guest } = this.dom;
    this.show({ tab: "guest" });
    this.guestBusy(false);
    guest.input.value = name;
    this.guestErrors.show(text, "name");
    const offer = code === "name_registered" && NAME_RE.test(name);
    guest.offer.hidden = !offer;
    guest.offerButton.textContent = offer ? `Sign in as ${name}` : "";
    guest.offerButton.dataset.user = offer ? name : "";
    guest.input.focus();
    guest.input.select();
  }

  // ------------------------------------------------------------------ sign in

  bindSignIn() {
    const { signin } = this.dom;
    signin.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.signIn();
    });
    for (const input of [signin.username, signin.password]) {
      input.addEventListener("input", () => {
        if (this.signinErrors.shown) this.signinErrors.clear();
      });
    }
  }

  async signIn() {
    const { signin } = this.dom;
    const username = signin.username.value;
    const password = signin.password.value;
    const checks = [
      [validateName(username), "username", signin.username],
      [password ? null : "Please enter your password.", "password", signin.password],
    ];
    if (this.refuseFirst(this.signinErrors, checks)) return;
    this.signinErrors.clear();
    this.setFormBusy("signin", true);
    const reply = await api.login(username, password);
    if (reply.ok) {
      this.handlers.onSignedIn(reply.data);
      return;
    }
    this.setFormBusy("signin", false);
    if (reply.code === "wrong_credentials") {
      signin.password.value = "";
      // Which of the two was wrong is not said (by the server either): a form-level message.
      this.refuse(this.signinErrors, "Wrong username or password.", null, signin.password);
    } else if (reply.code === "too_many_attempts") {
      const wait = describeWait(reply.retryAfter);
      const text = `Too many failed sign-ins for this name. Try again in ${wait}.`;
      this.refuse(this.signinErrors, text, null, signin.password);
    } else {
      const text = commonProblem(reply) ?? `Could not sign in: ${errorText(reply.code)}`;
      this.refuse(this.signinErrors, text, null, signin.submit);
    }
  }

  // ------------------------------------------------------------------ register

  bindRegister() {
    const { register } = this.dom;
    register.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.register();
    });
    for (const input of [register.username, register.password]) {
      input.addEventListener("input", () => {
        if (this.registerErrors.shown) this.registerErrors.clear();
      });
    }
    register.colors.addEventListener("change", () => {
      if (this.registerErrors.shown) this.registerErrors.clear();
    });
  }

  async register() {
    const { register } = this.dom;
    const username = register.username.value;
    const password = register.password.value;
    const color = checkedColor(this.colorRadios);
    const checks = [
      [validateName(username), "username", register.username],
      [validatePassword(password), "password", register.password],
      [color ? null : "Please choose a token colour.", "color", this.colorRadios[0]],
    ];
    if (this.refuseFirst(this.registerErrors, checks)) return;
    this.registerErrors.clear();
    this.setFormBusy("register", true);
    const reply = await api.register(username, password, color);
    if (reply.ok) {
      this.handlers.onSignedIn(reply.data);
      return;
    }
    this.setFormBusy("register", false);
    const taken = `The name “${username}” is already taken: choose another one, or sign in if it is yours.`;
    const wait = describeWait(reply.retryAfter);
    const [text, field, focusEl] = {
      name_taken: [taken, "username", register.username],
      too_many_registrations: [
        `Too many new accounts from your network. Try again in ${wait}.`,
        null,
        register.submit,
      ],
      invalid_name: [errorText("invalid_name"), "username", register.username],
      invalid_password: [errorText("invalid_password"), "password", register.password],
      invalid_color: [errorText("invalid_color"), "color", this.colorRadios[0]],
    }[reply.code] ?? [
      commonProblem(reply) ?? `Could not create the account: ${errorText(reply.code)}`,
      null,
      register.submit,
    ];
    this.refuse(this.registerErrors, text, field, focusEl);
  }

  // ------------------------------------------------------------------ shared

  refuse(errors, text, field, focusEl) {
    errors.show(text, field);
    focusEl.focus();
  }

  /** Refuse with the first failed check ([message or null, field, element]); true if any. */
  refuseFirst(errors, checks) {
    const failed = checks.find(([text]) => text);
    if (failed) this.refuse(errors, ...failed);
    return !!failed;
  }

  setFormBusy(which, busy) {
    const form = this.dom[which];
    form.submit.disabled = busy;
    form.username.readOnly = busy;
    form.password.readOnly = busy;
    form.submit.textContent = busy
      ? which === "signin"
        ? "Signing in…"
        : "Creating account…"
      : which === "signin"
        ? "Sign in"
        : "Create account";
  }
}
