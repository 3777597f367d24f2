// watch.js draws with board.js and colors.js, which import the server's rules (config.js
// fetches /api/config at load): a stub answers.
import { test } from "node:test";
import assert from "node:assert/strict";

globalThis.fetch = async () => ({
  ok: true,
  json: async () => ({ name: { pattern: "^[a-z]+$", max_length: 24 }, password: {}, palette: {}, guest_colors: {} }),
});
const { watchResultText, watchTurnText } = await import("../watch.js");

test("an onlooker's words for every way a game ends", () => {
  assert.equal(watchResultText({ result: "win", winner: "ann", reason: "four_in_a_row" }), "ann won by four in a row");
  assert.equal(watchResultText({ result: "win", winner: "bob", reason: "forfeit" }), "bob won by forfeit");
  assert.equal(watchResultText({ result: "win", winner: "bob", reason: "disconnect" }), "bob won — the opponent disconnected");
  assert.equal(watchResultText({ result: "win", winner: "bob", reason: "timeout" }), "bob won — the opponent ran out of time");
  assert.equal(watchResultText({ result: "draw", winner: null, reason: "board_full" }), "Draw — the board is full");
  assert.equal(watchResultText({ result: "draw", winner: null, reason: "agreement" }), "Draw by agreement");
  assert.equal(watchResultText({ result: "draw", winner: null, reason: "aborted" }), "Game aborted — no one's record changes");
  assert.equal(watchResultText({ result: "win", winner: "ann", reason: "something_new" }), "ann won");
  assert.equal(watchResultText(null), "");
});

test("the status line while the game goes on", () => {
  assert.equal(watchTurnText("ann", []), "ann to move · 0 moves played");
  assert.equal(watchTurnText("bob", [3]), "bob to move · 1 move played");
  assert.equal(watchTurnText(null, [3, 3]), "");
});
