// A registered player's profile (GET /api/users/{name}): colour, record, win ratio and
// their latest games, each with a Replay button. User text goes in through textContent.

import { api, commonProblem } from "./api.js";
import { colorLabel, paintSwatch } from "./colors.js";
import { errorText } from "./messages.js";

const OUTCOMES = { win: "Won", loss: "Lost", draw: "Draw", aborted: "Aborted" };
const REASONS = {
  four_in_a_row: "four in a row",
  board_full: "board full",
  forfeit: "forfeit",
  disconnect: "disconnect",
  aborted: "stopped by the server",
};

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A stored time (seconds since the epoch) for people, and for <time datetime>. */
export function formatTime(seconds) {
  const date = new Date(Number(seconds) * 1000);
  if (Number.isNaN(date.getTime())) return { text: "", iso: "" };
  return { text: dateFormat.format(date), iso: date.toISOString() };
}

/** Wins over games played, as "67%"; a dash before the first game. */
export function winRatio({ wins = 0, losses = 0, draws = 0 }) {
  const played = wins + losses + draws;
  return played > 0 ? `${Math.round((100 * wins) / played)}%` : "–";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function count(n) {
  return Number.isFinite(n) ? String(n) : "0";
}

/** The profile view's elements (index.html, #profile). */
export function findProfileDom() {
  const byId = (id) => document.getElementById(id);
  return {
    title: byId("profile-title"),
    status: byId("profile-status"),
    body: byId("profile-body"),
    swatch: byId("profile-swatch"),
    colorName: byId("profile-color"),
    wins: byId("profile-wins"),
    losses: byId("profile-losses"),
    draws: byId("profile-draws"),
    ratio: byId("profile-ratio"),
    games: document.querySelector("#profile-games tbody"),
    gamesTable: byId("profile-games"),
    noGames: byId("profile-no-games"),
    back: byId("profile-back"),
  };
}

export class ProfileView {
  /**
   * @param {object} dom see index.html, #profile
   * @param {{onBack: () => void, onReplay: (gameId: string) => void}} handlers
   */
  constructor(dom, { onBack, onReplay }) {
    this.dom = dom;
    this.loading = 0; // id of the latest load; a slower earlier reply is dropped
    this.name = null;
    dom.back.addEventListener("click", () => onBack());
    dom.games.addEventListener("click", (event) => {
      const btn = event.target.closest("button[data-game]");
      if (btn) onReplay(btn.dataset.game);
    });
  }

  /** Load and show `name`'s profile. */
  async show(name) {
    const { dom } = this;
    const load = ++this.loading;
    this.name = name;
    dom.title.textContent = `${name}'s profile`;
    dom.body.hidden = true;
    this.setStatus("Loading…");
    this.focusTitle();
    const reply = await api.profile(name);
    if (load !== this.loading) return;
    if (!reply.ok) {
      const text =
        reply.code === "unknown_user"
          ? `${name} has no account, so there is no profile to show.`
          : (commonProblem(reply) ?? `Could not load the profile: ${errorText(reply.code)}`);
      this.setStatus(text, true);
      return;
    }
    this.render(reply.data);
  }

  render(profile) {
    const { dom } = this;
    dom.title.textContent = profile.name;
    paintSwatch(dom.swatch, profile.color);
    dom.colorName.textContent = colorLabel(profile.color);
    dom.wins.textContent = count(profile.wins);
    dom.losses.textContent = count(profile.losses);
    dom.draws.textContent = count(profile.draws);
    dom.ratio.textContent = winRatio(profile);
    const games = Array.isArray(profile.games) ? profile.games : [];
    dom.games.replaceChildren(...games.map((game) => this.gameRow(game)));
    dom.gamesTable.hidden = games.length === 0;
    dom.noGames.hidden = games.length > 0;
    this.setStatus("");
    dom.body.hidden = false;
  }

  gameRow(game) {
    const tr = el("tr");
    tr.dataset.game = game.game_id;
    tr.dataset.outcome = game.outcome;
    const outcome = el("span", "outcome", OUTCOMES[game.outcome] ?? String(game.outcome));
    outcome.dataset.outcome = game.outcome;
    const { text, iso } = formatTime(game.ended_at);
    const time = el("time", "", text);
    if (iso) time.dateTime = iso;
    const replay = el("button", "btn btn-small", "Replay");
    replay.type = "button";
    replay.dataset.game = game.game_id;
    replay.setAttribute("aria-label", `Replay the game against ${game.opponent}${text ? `, ${text}` : ""}`);

    const opponent = el("td", "col-opponent", game.opponent);
    const result = el("td", "col-outcome");
    result.append(outcome);
    const reason = el("td", "col-reason", REASONS[game.reason] ?? String(game.reason ?? ""));
    const moves = el("td", "num col-moves", count(game.moves));
    const date = el("td", "col-date");
    date.append(time);
    const action = el("td", "col-action");
    action.append(replay);
    tr.append(opponent, result, reason, moves, date, action);
    return tr;
  }

  setStatus(text, isError = false) {
    const { status } = this.dom;
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("form-error", isError);
  }

  focusTitle() {
    this.dom.title.focus({ preventScroll: true });
  }
}
