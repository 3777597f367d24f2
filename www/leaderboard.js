// The leaderboard view (GET /api/leaderboard): registered players by wins; each name opens
// that player's profile. Names go in through textContent only.

import { api, commonProblem } from "./api.js";
import { errorText } from "./messages.js";

/** 0.6667 -> "67%": the ratio of wins over games, as people read it. Pure. */
export function ratioText(ratio) {
  return Number.isFinite(ratio) ? `${Math.round(ratio * 100)}%` : "–";
}

export class LeaderboardView {
  /**
   * @param {{root: HTMLElement, title: HTMLElement, status: HTMLElement, table: HTMLTableElement}} dom
   * @param {{onProfile: (name: string) => void}} handlers
   */
  constructor(dom, { onProfile }) {
    this.dom = dom;
    this.loading = 0;
    dom.table.addEventListener("click", (event) => {
      const btn = event.target.closest("button[data-user]");
      if (btn) onProfile(btn.dataset.user);
    });
  }

  async show() {
    const { dom } = this;
    const load = ++this.loading;
    dom.status.textContent = "Loading…";
    dom.title.focus({ preventScroll: true });
    const reply = await api.leaderboard();
    if (load !== this.loading) return;
    if (!reply.ok || !Array.isArray(reply.data)) {
      dom.table.hidden = true;
      dom.status.textContent = commonProblem(reply) ?? `Could not load the leaderboard: ${errorText(reply.code)}`;
      return;
    }
    const rows = reply.data.map((entry, index) => this.row(entry, index + 1));
    dom.table.tBodies[0].replaceChildren(...rows);
    dom.table.hidden = rows.length === 0;
    dom.status.textContent = rows.length === 0 ? "No registered player has finished a game yet." : "";
  }

  row(entry, rank) {
    const tr = document.createElement("tr");
    tr.setAttribute("role", "row");
    tr.dataset.user = entry.name;
    const cell = (text, className) => {
      const td = document.createElement("td");
      td.setAttribute("role", "cell");
      if (className) td.className = className;
      if (text !== undefined) td.textContent = text;
      return td;
    };
    const nameCell = cell();
    const link = document.createElement("button");
    link.type = "button";
    link.className = "name-link";
    link.textContent = entry.name;
    link.dataset.user = entry.name;
    link.setAttribute("aria-label", `View ${entry.name}'s profile`);
    nameCell.append(link);
    tr.append(
      cell(String(rank), "num"),
      nameCell,
      cell(String(entry.wins ?? 0), "num"),
      cell(String(entry.losses ?? 0), "num"),
      cell(String(entry.draws ?? 0), "num"),
      cell(ratioText(entry.ratio), "num"),
    );
    return tr;
  }
}
