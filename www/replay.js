// Replaying a stored game (GET /api/games/{id}) move by move: First / Back / Forward /
// Last buttons, and the Home / Left / Right / End keys anywhere in the view. The
// positions are computed here from the list of moves; the winning four, at the end,
// is found on the final board.

import { api, commonProblem } from "./api.js";
import { BoardGrid, findFours, positionAfter } from "./board.js";
import { applyTokenColors } from "./colors.js";
import { formatTime } from "./profile.js";
import { errorText } from "./messages.js";
import { controlName } from "./clock.js";
import { AnalysisPanel, findAnalysisDom } from "./analysis.js";

// A game just ended may reach the store a moment after its game_over: look again.
const JUST_ENDED_TRIES = 5;
const JUST_ENDED_WAIT_MS = 400;

/** How a stored game ended, told by a neutral onlooker. */
export function describeEnding({ result, winner, reason, player1, player2 }) {
  if (result === "draw") return reason === "board_full" ? "Draw — the board is full" : "Draw";
  if (result === "win" && winner) {
    const loser = winner === player1 ? player2 : player1;
    if (reason === "four_in_a_row") return `${winner} won by four in a row`;
    if (reason === "forfeit") return `${winner} won by forfeit`;
    if (reason === "disconnect") return `${winner} won — ${loser} disconnected`;
    if (reason === "timeout") return `${winner} won — ${loser} ran out of time`;
    return `${winner} won`;
  }
  return "No result — the server stopped this game";
}

const KEY_STEPS = { Home: "first", ArrowLeft: "back", ArrowRight: "forward", End: "last" };

/** The replay view's elements (index.html, #replay). */
export function findReplayDom() {
  const byId = (id) => document.getElementById(id);
  return {
    root: byId("replay"),
    title: byId("replay-title"),
    when: byId("replay-when"),
    clock: byId("replay-clock"),
    player1: byId("replay-player1"),
    player2: byId("replay-player2"),
    status: byId("replay-status"),
    body: byId("replay-body"),
    step: byId("replay-step"),
    move: byId("replay-move"),
    board: byId("replay-board"),
    result: byId("replay-result"),
    first: byId("replay-first"),
    back: byId("replay-back"),
    forward: byId("replay-forward"),
    last: byId("replay-last"),
    close: byId("replay-close"),
  };
}

export class ReplayView {
  /**
   * @param {object} dom see index.html, #replay
   * @param {{onClose: () => void, onAnalyse: (gameId: string) => boolean, canAnalyse: () => boolean}} handlers
   *   onAnalyse sends `analyse` (false: no session to send it on)
   */
  constructor(dom, { onClose, onAnalyse = () => false, canAnalyse = () => false }) {
    this.dom = dom;
    this.game = null; // the stored game being shown
    this.moves = [];
    this.at = 0; // moves played on the board shown
    this.loading = 0;
    this.board = new BoardGrid(dom.board, { idPrefix: "replay-cell", cellRole: "cell" });
    this.canAnalyse = canAnalyse;
    this.analysis = new AnalysisPanel(findAnalysisDom(), {
      onRequest: () => this.requestAnalysis(onAnalyse),
      onGo: (count) => {
        this.go(count);
        dom.forward.focus({ preventScroll: true });
      },
    });

    dom.close.addEventListener("click", () => onClose());
    for (const step of ["first", "back", "forward", "last"]) {
      dom[step].addEventListener("click", () => this.step(step));
    }
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** Load game `gameId` and show its opening position; `analyse`: ask for its analysis
   * at once if it has none (from a game just ended). */
  async show(gameId, { analyse = false } = {}) {
    const { dom } = this;
    const load = ++this.loading;
    this.game = null;
    dom.title.textContent = "Replay";
    dom.when.textContent = "";
    dom.clock.textContent = "";
    dom.body.hidden = true;
    this.setStatus("Loading…");
    dom.title.focus({ preventScroll: true });
    let reply = await api.game(gameId);
    for (let tries = 1; analyse && reply.code === "unknown_game" && tries < JUST_ENDED_TRIES; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, JUST_ENDED_WAIT_MS));
      if (load !== this.loading) return;
      reply = await api.game(gameId);
    }
    if (load !== this.loading) return;
    if (!reply.ok) {
      const text =
        reply.code === "unknown_game"
          ? "This game is not stored, so it cannot be replayed."
          : (commonProblem(reply) ?? `Could not load the game: ${errorText(reply.code)}`);
      this.setStatus(text, true);
      return;
    }
    this.open(reply.data);
    await this.loadAnalysis(gameId, load, analyse);
  }

  /** The stored analysis, if any; else the button to ask for it (pressed at once if `analyse`). */
  async loadAnalysis(gameId, load, analyse) {
    const reply = await api.analysis(gameId);
    if (load !== this.loading) return;
    if (reply.ok) {
      this.analysis.show(reply.data, this.at);
      return;
    }
    if (reply.code === "not_analysed") {
      this.analysis.offer(this.canAnalyse());
      if (analyse && this.canAnalyse()) this.analysis.dom.request.click();
      return;
    }
    this.analysis.failed(commonProblem(reply) ?? errorText(reply.code));
  }

  requestAnalysis(onAnalyse) {
    if (!this.game) return;
    if (onAnalyse(this.game.game_id)) this.analysis.asked();
    else this.analysis.offer(false);
  }

  /** An `analysis_progress` or `analysis` for the game on screen (others are ignored). */
  analysisProgress(msg) {
    if (this.game?.game_id === msg.game_id) this.analysis.progress(msg.done, msg.total);
  }

  analysisArrived(msg) {
    if (this.game?.game_id === msg.game_id) this.analysis.show(msg, this.at);
  }

  analysisRefused(text) {
    if (this.game) this.analysis.failed(text);
  }

  open(game) {
    const { dom } = this;
    this.game = game;
    this.moves = Array.isArray(game.moves) ? game.moves : [];
    applyTokenColors(dom.root, game.colors);
    dom.title.textContent = `${game.player1} vs ${game.player2}`;
    dom.when.textContent = formatTime(game.ended_at).text;
    dom.clock.textContent = game.time_control ? `Time control ${controlName(game.time_control)}` : "Untimed";
    dom.player1.textContent = `${game.player1} (moved first)`;
    dom.player2.textContent = game.player2;
    this.board.setLabels(`${game.player1}'s token`, `${game.player2}'s token`);
    const damaged = positionAfter(this.moves, this.moves.length).error;
    this.setStatus(damaged ? `This game's record is damaged at ${damaged}: it stops before it.` : "", !!damaged);
    dom.body.hidden = false;
    this.analysis.reset(game.player1, game.player2);
    this.go(0);
    dom.forward.focus({ preventScroll: true });
  }

  /** Show the position after `count` moves. */
  go(count, { animate = false } = {}) {
    const { dom } = this;
    const total = this.moves.length;
    this.at = Math.max(0, Math.min(total, count));
    const { board, lastMove, error } = positionAfter(this.moves, this.at);
    const atEnd = this.at === total;
    const line = atEnd && !error && this.game.reason === "four_in_a_row" ? findFours(board) : null;
    this.board.render(board, lastMove, line, animate && !error);

    dom.step.textContent = `Move ${this.at} of ${total}`;
    if (this.at === 0) {
      dom.move.textContent = "The empty board";
    } else {
      const mover = this.at % 2 === 1 ? this.game.player1 : this.game.player2;
      dom.move.textContent = `${mover} played column ${this.moves[this.at - 1] + 1}`;
    }
    dom.result.hidden = !atEnd;
    dom.result.textContent = atEnd ? describeEnding(this.game) : "";

    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    const enable = (btn, on) => btn.setAttribute("aria-disabled", String(!on));
    enable(dom.first, this.at > 0);
    enable(dom.back, this.at > 0);
    enable(dom.forward, !atEnd);
    enable(dom.last, !atEnd);
    this.analysis.at(this.at);
  }

  step(which) {
    if (!this.game) return;
    const targets = { first: 0, back: this.at - 1, forward: this.at + 1, last: this.moves.length };
    const target = Math.max(0, Math.min(this.moves.length, targets[which]));
    if (target !== this.at) this.go(target, { animate: which === "forward" });
  }

  onKey(event) {
    const step = KEY_STEPS[event.key];
    if (!step || this.dom.root.hidden || !this.game) return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    // Typing in a field, or a dialog on top, keeps its keys.
    if (event.target.closest?.("input, textarea, select, [contenteditable], dialog")) return;
    event.preventDefault();
    this.step(step);
  }

  setStatus(text, isError = false) {
    const { status } = this.dom;
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("form-error", isError);
  }
}
