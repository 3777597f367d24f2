// What a guest sees of their session: "Change name" and "Leave" in the header, beside the
// greeting, on the lobby's side of the site. Changing name ends the session on the same
// socket (`leave`) and joins again under the new name (`new_connection`), without a reload;
// the new name is checked first, beside its field, by the same rule as the server. Leaving
// ends the session: a guest's record goes with it.

import { validateName } from "./entry.js";

/** The guest bar's elements (index.html, #guest-bar and #rename-form). */
export function findGuestDom() {
  const byId = (id) => document.getElementById(id);
  return {
    bar: byId("guest-bar"),
    rename: byId("change-name"),
    leave: byId("leave"),
    form: byId("rename-form"),
    input: byId("rename-input"),
    submit: byId("rename-submit"),
    cancel: byId("rename-cancel"),
    error: byId("rename-error"),
  };
}

/**
 * Why `wanted` cannot replace `current`, or null: the name rule, the same name, or a name the
 * lobby lists as online (names are unique case-insensitively). The server has the last word.
 * @param {(name: string) => boolean} online whether the lobby lists that name
 */
export function renameProblem(wanted, current, online) {
  const problem = validateName(wanted);
  if (problem) return problem;
  if (current && wanted === current) return "That is your name already.";
  if (online(wanted) && wanted.toLowerCase() !== (current ?? "").toLowerCase()) {
    return `${wanted} is already online: pick another name.`;
  }
  return null;
}

export class GuestBar {
  /**
   * @param {object} dom see findGuestDom
   * @param {{onRename: (name: string) => void, onLeave: () => void,
   *          current: () => string|null, online: (name: string) => boolean}} handlers
   */
  constructor(dom, { onRename, onLeave, current, online }) {
    this.dom = dom;
    dom.rename.addEventListener("click", () => this.openForm());
    dom.leave.addEventListener("click", () => onLeave());
    dom.cancel.addEventListener("click", () => this.closeForm({ focus: true }));
    dom.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const wanted = dom.input.value.trim();
      const problem = renameProblem(wanted, current(), online);
      if (problem) {
        this.showError(problem);
        dom.input.focus();
        return;
      }
      this.showError("");
      dom.submit.disabled = true;
      onRename(wanted);
    });
    dom.input.addEventListener("input", () => {
      if (dom.error.textContent) this.showError("");
    });
    dom.form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeForm({ focus: true });
    });
  }

  /** Shown on the lobby's side of the site while a guest session is open. */
  setVisible(visible) {
    this.dom.bar.hidden = !visible;
    if (!visible) this.closeForm();
  }

  openForm() {
    const { form, input, rename } = this.dom;
    form.hidden = false;
    rename.setAttribute("aria-expanded", "true");
    input.value = "";
    this.showError("");
    this.dom.submit.disabled = false;
    input.focus();
  }

  closeForm({ focus = false } = {}) {
    const { form, rename } = this.dom;
    if (form.hidden) return;
    form.hidden = true;
    rename.setAttribute("aria-expanded", "false");
    this.showError("");
    this.dom.submit.disabled = false;
    if (focus && !this.dom.bar.hidden) rename.focus();
  }

  showError(text) {
    this.dom.error.textContent = text;
    this.dom.input.setAttribute("aria-invalid", text ? "true" : "false");
  }
}
