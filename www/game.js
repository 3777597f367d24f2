// Game view: opponent line, turn indicator, messages, result, the
// opponent-disconnected countdown and the quit confirmation dialog.
// Game rules and networking live in app.js; this module only draws.

import { BoardView, emptyBoard } from "./board.js";
import { applyTokenColors } from "./colors.js";
import { ClocksView } from "./clock.js";

const REASONS = {
  four_in_a_row: () => "by four in a row",
  board_full: () => "— the board is full",
  forfeit: () => "by forfeit",
  disconnect: (iWon) => (iWon ? "— opponent disconnected" : "— you were disconnected"),
  timeout: (iWon) => (iWon ? "— your opponent ran out of time" : "— you ran out of time"),
  agreement: () => "by agreement",
};

/** The move timer shows up this many seconds before the side to move runs out. */
const MOVE_TIMER_SHOWN_SECONDS = 30;

/** Headline and reason for a finished game, from the local player's point of view. */
export function describeResult(over, me) {
  if (over?.result === "restarted") {
    return { headline: "Game over", detail: "— the server restarted: this game was not counted", outcome: "unknown" };
  }
  if (!over || over.result === "unknown") {
    return { headline: "Game over", detail: "— it ended while you were disconnected", outcome: "unknown" };
  }
  if (over.reason === "aborted") {
    return { headline: "Game aborted", detail: "— no one's record changes", outcome: "draw" };
  }
  if (over.result === "draw") {
    return { headline: "Draw", detail: (REASONS[over.reason] ?? (() => ""))(false), outcome: "draw" };
  }
  const iWon = over.winner === me;
  const headline = iWon ? "You won" : `${over.winner ?? "Your opponent"} won`;
  const detail = (REASONS[over.reason] ?? (() => ""))(iWon);
  return { headline, detail, outcome: iWon ? "won" : "lost" };
}

export class GameView {
  constructor(dom, { onMove, onQuit, onBack }) {
    this.dom = dom;
    this.countdown = null;
    this.moveTimer = null;
    this.clocks = new ClocksView({
      root: dom.clocks,
      you: dom.clockYou,
      opp: dom.clockOpp,
      youTime: dom.clockYouTime,
      oppTime: dom.clockOppTime,
      oppLabel: dom.clockOppLabel,
    });
    this.board = new BoardView(dom.board, dom.columns, { onPlay: (col) => onMove(col) });

    dom.quit.addEventListener("click", () => {
      dom.quitDialog.returnValue = "";
      dom.quitDialog.showModal();
    });
    // <form method="dialog"> closes the dialog with the clicked button's value;
    // Escape closes it with the empty value we set above.
    dom.quitDialog.addEventListener("close", () => {
      if (dom.quitDialog.returnValue === "forfeit") onQuit();
    });
    dom.backToLobby.addEventListener("click", () => onBack());
  }

  /** A game began or was resumed: set players, colours and an empty (or kept) board. */
  start(game, me, { resumed }) {
    const { dom } = this;
    // Registered players' colours come from the server (game_started.colors) like guests'.
    const colors = applyTokenColors(dom.game, game.colors);
    dom.game.style.setProperty("--you", game.you === 1 ? colors.player1 : colors.player2);
    dom.game.style.setProperty("--opp", game.you === 1 ? colors.player2 : colors.player1);

    dom.opponentLine.textContent = `You are playing with ${game.opponent}`;
    dom.legendYou.textContent = game.you === 1 ? "You (move first)" : "You";
    dom.legendOpp.textContent = game.you === 2 ? `${game.opponent} (moves first)` : game.opponent;
    // The legend's chips carry the same mark as the tokens (a ring, a diamond): colour is not the only cue.
    dom.game.dataset.you = String(game.you);

    this.board.setPlayers({ you: game.you, youLabel: "your token", oppLabel: `${game.opponent}'s token` });
    if (!resumed) {
      this.clearMessage();
      this.hideOpponentBanner();
      this.board.reset();
    }
    dom.result.hidden = true;
    dom.result.replaceChildren();
    dom.backToLobby.hidden = true;
    dom.quit.hidden = false;
    dom.game.classList.remove("over");
    this.update(game, me, false);
  }

  /** Draw the current position and whose turn it is. */
  update(game, me, animate) {
    const over = game.over;
    this.board.render(game.board ?? emptyBoard(), game.lastMove, over?.line ?? null, animate);
    const myTurn = !over && game.next === me;
    this.board.setInteractive(myTurn);
    const { turn } = this.dom;
    if (over) turn.textContent = "Game over";
    else if (!game.next) turn.textContent = "";
    else turn.textContent = myTurn ? "Your turn" : `${game.next}'s turn`;
    turn.classList.toggle("mine", myTurn);
    this.clocks.show(game, me);
    // A running clock shows the time itself; the timer is for untimed games and first moves.
    const clockRuns = Boolean(game.timeControl) && (game.moves?.length ?? 0) >= 2;
    this.showMoveTimer(over || clockRuns ? null : game.moveDeadline ?? null, game.next, me);
  }

  /** The last seconds the side to move has (untimed games with a move timeout): hidden
   * until MOVE_TIMER_SHOWN_SECONDS are left, then a countdown ticking locally. */
  showMoveTimer(deadline, next, me) {
    const box = this.dom.moveTimer;
    clearInterval(this.moveTimer);
    this.moveTimer = null;
    if (deadline == null || !next) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    const who = next === me ? "You have" : `${next} has`;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      box.hidden = left > MOVE_TIMER_SHOWN_SECONDS;
      box.textContent = `${who} ${left} s to move`;
      box.classList.toggle("mine", next === me);
      if (left === 0) {
        clearInterval(this.moveTimer);
        this.moveTimer = null;
      }
    };
    tick();
    if (deadline > Date.now()) this.moveTimer = setInterval(tick, 250);
  }

  /** Show the result, the winning line and the way back to the lobby. */
  finish(game, me) {
    const { dom } = this;
    this.update(game, me, false);
    this.hideOpponentBanner();
    if (dom.quitDialog.open) dom.quitDialog.close("cancel");
    dom.quit.hidden = true;
    dom.game.classList.add("over");

    const { headline, detail, outcome } = describeResult(game.over, me);
    const strong = document.createElement("strong");
    strong.className = "result-headline";
    strong.textContent = headline;
    const reason = document.createElement("span");
    reason.className = "result-reason";
    reason.textContent = detail ? ` ${detail}` : "";
    dom.result.replaceChildren(strong, reason);
    dom.result.dataset.outcome = outcome;
    dom.result.hidden = false;
    dom.backToLobby.hidden = false;
    // Keyboard players were on the board; move them to the only useful next action.
    if (!document.activeElement || document.activeElement === document.body || dom.game.contains(document.activeElement)) {
      dom.backToLobby.focus();
    }
  }

  showMessage(text) {
    const box = this.dom.gameMessage;
    // The same text again changes nothing visible, so nudge it to show the click was seen.
    if (box.textContent === text) {
      box.classList.remove("again");
      void box.offsetWidth;
      box.classList.add("again");
    }
    box.textContent = text;
  }

  clearMessage() {
    this.dom.gameMessage.textContent = "";
  }

  opponentDisconnected(graceSeconds) {
    const banner = this.dom.opponentBanner;
    const deadline = Date.now() + Math.max(0, Number(graceSeconds) || 0) * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      banner.textContent = `Opponent disconnected, ${left} s`;
      if (left === 0) this.stopCountdown();
    };
    this.stopCountdown();
    tick();
    banner.hidden = false;
    // Sub-second ticks keep the display from skipping a number when timers drift.
    if (!banner.hidden && deadline > Date.now()) this.countdown = setInterval(tick, 250);
  }

  stopCountdown() {
    clearInterval(this.countdown);
    this.countdown = null;
  }

  hideOpponentBanner() {
    this.stopCountdown();
    this.dom.opponentBanner.hidden = true;
    this.dom.opponentBanner.textContent = "";
  }

  /** "3 watching" under the turn line ("" hides it): the players' view of their spectators. */
  setSpectators(text) {
    const node = this.dom.spectators;
    if (!node) return;
    node.textContent = text;
    node.hidden = !text;
  }

  focusBoard() {
    this.board.focus();
    // The drop buttons above the grid belong in view too (a phone held sideways).
    this.dom.board.closest(".board-wrap")?.scrollIntoView({ block: "nearest" });
  }

  /** Leave the game view clean for the next game. */
  reset() {
    this.hideOpponentBanner();
    this.showMoveTimer(null);
    this.clocks.hide();
    this.clearMessage();
    if (this.dom.quitDialog.open) this.dom.quitDialog.close("cancel");
    this.board.reset();
    this.dom.result.hidden = true;
    this.dom.backToLobby.hidden = true;
    this.dom.quit.hidden = false;
  }
}
