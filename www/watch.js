// Watching someone else's game (a spectator): the players in their colours, the board,
// the moves, the players' chat and the result, with no way to play. The page watches one
// game at a time; the server sends `watching`, then `game_state` after every move, the
// `chat_message`s and the `game_over`, the same frames the players get.
//
// The wording functions are pure (no DOM), so `node --test` runs them. Every name and
// chat line goes in through textContent.

import { BoardGrid } from "./board.js";
import { applyTokenColors } from "./colors.js";
import { moveLines } from "./messages.js";

const ENDINGS = {
  four_in_a_row: "by four in a row",
  forfeit: "by forfeit",
  disconnect: "— the opponent disconnected",
  timeout: "— the opponent ran out of time",
};

/** A finished game told to an onlooker: "ann won by four in a row", "Draw by agreement"... */
export function watchResultText(over) {
  if (!over) return "";
  if (over.reason === "aborted") return "Game aborted — no one's record changes";
  if (over.result === "draw") {
    if (over.reason === "agreement") return "Draw by agreement";
    if (over.reason === "board_full") return "Draw — the board is full";
    return "Draw";
  }
  const how = ENDINGS[over.reason];
  return over.winner ? `${over.winner} won${how ? ` ${how}` : ""}` : "Game over";
}

/** What the status line says while the game goes on. */
export function watchTurnText(next, moves) {
  if (!next) return "";
  const count = Array.isArray(moves) ? moves.length : 0;
  return `${next} to move · ${count === 1 ? "1 move" : `${count} moves`} played`;
}

/** The watch view's elements (index.html, #watch). */
export function findWatchDom() {
  const byId = (id) => document.getElementById(id);
  return {
    root: byId("watch"),
    title: byId("watch-title"),
    player1: byId("watch-player1"),
    player2: byId("watch-player2"),
    spectators: byId("watch-spectators"),
    status: byId("watch-status"),
    board: byId("watch-board"),
    result: byId("watch-result"),
    moves: byId("watch-moves"),
    movesEmpty: byId("watch-moves-empty"),
    chat: byId("watch-chat"),
    chatLog: byId("watch-chat-log"),
    back: byId("watch-back"),
  };
}

export class WatchView {
  /**
   * @param {object} dom see findWatchDom
   * @param {{onBack: () => void}} handlers Unwatch / back to the lobby
   */
  constructor(dom, { onBack }) {
    this.dom = dom;
    this.board = new BoardGrid(dom.board, { idPrefix: "watch-cell", cellRole: "cell" });
    this.players = null;
    dom.back.addEventListener("click", () => onBack());
  }

  /** A new game to watch: from `watching` (players, colours, spectators). */
  start(msg) {
    const { dom } = this;
    this.players = { player1: msg.player1, player2: msg.player2 };
    applyTokenColors(dom.root, msg.colors);
    dom.title.textContent = `${msg.player1} vs ${msg.player2}`;
    dom.player1.textContent = `${msg.player1} (moves first)`;
    dom.player2.textContent = msg.player2;
    this.board.setLabels(`${msg.player1}'s token`, `${msg.player2}'s token`);
    this.setSpectators(msg.spectators);
    dom.status.textContent = "";
    dom.result.hidden = true;
    dom.result.textContent = "";
    dom.moves.replaceChildren();
    dom.movesEmpty.hidden = false;
    dom.chatLog.replaceChildren();
    dom.chat.hidden = true;
    dom.back.textContent = "Stop watching";
    this.board.render([".......", ".......", ".......", ".......", ".......", "......."]);
  }

  setSpectators(count) {
    const n = Number.isInteger(count) ? count : 0;
    this.dom.spectators.textContent = `${n.toLocaleString("en")} watching`;
  }

  /** A `game_state`: the whole position. */
  update(msg, animate) {
    const { dom } = this;
    const board = Array.isArray(msg.board) && msg.board.length === 6 ? msg.board : null;
    if (board) this.board.render(board, msg.last_move ?? null, null, animate);
    const lines = moveLines(msg.moves, this.players?.player1 ?? "player 1", this.players?.player2 ?? "player 2");
    dom.moves.replaceChildren(
      ...lines.map((line) => {
        const li = document.createElement("li");
        li.textContent = line;
        return li;
      }),
    );
    dom.movesEmpty.hidden = lines.length > 0;
    dom.status.textContent = watchTurnText(msg.next, msg.moves);
    this.lastBoard = board ?? this.lastBoard;
    this.lastMove = msg.last_move ?? null;
  }

  /** The `game_over`: the result, the winning four, and the way back. */
  finish(msg) {
    const { dom } = this;
    const over = { result: msg.result, winner: msg.winner ?? null, reason: msg.reason };
    if (this.lastBoard) this.board.render(this.lastBoard, this.lastMove, Array.isArray(msg.line) ? msg.line : null);
    dom.status.textContent = "";
    dom.result.textContent = watchResultText(over);
    dom.result.hidden = false;
    dom.back.textContent = "Back to lobby";
    return dom.result.textContent;
  }

  /** One of the players' chat lines. */
  addChat(msg) {
    const { dom } = this;
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.className = "chat-from";
    who.textContent = `${msg.from}: `;
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = msg.text;
    li.append(who, text);
    dom.chatLog.append(li);
    dom.chat.hidden = false;
  }

  focusTitle() {
    this.dom.title.focus({ preventScroll: true });
  }
}
