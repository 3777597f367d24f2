// The result screen's rematch as the page keeps it: a pure reducer over the server's
// messages, and the view it implies.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NO_REMATCH, rematchNews, rematchStep, rematchView } from "../rematch.js";

const over = (state = NO_REMATCH) => rematchStep(state, { type: "game_over", game_id: "g1", opponent: "bob" }, "ann");
const step = (state, event) => rematchStep(state, event, "ann");
const ready = () => step(over(), { type: "user_list" });

test("the button waits for the lobby's snapshot after game_over, then offers", () => {
  const waiting = over();
  assert.equal(rematchView(waiting).button, "disabled");
  const shown = step(waiting, { type: "user_list" });
  assert.deepEqual(rematchView(shown), { button: "enabled", text: null, answer: false });
  // A later snapshot changes nothing; nothing is shown without a finished game.
  assert.equal(step(shown, { type: "user_list" }), shown);
  assert.equal(step(NO_REMATCH, { type: "user_list" }), NO_REMATCH);
  assert.equal(rematchView(NO_REMATCH).button, "hidden");
});

test("my offer waits; the opponent's offer asks for an answer and is news", () => {
  const sent = step(ready(), { type: "sent" });
  assert.equal(rematchView(sent).button, "disabled");
  const mine = step(sent, { type: "rematch_offered", game_id: "g1", by: "ann" });
  assert.deepEqual(rematchView(mine), {
    button: "hidden",
    text: "You offered bob a rematch: waiting for the answer.",
    answer: false,
  });
  assert.equal(rematchNews(sent, mine), null);
  const theirs = step(ready(), { type: "rematch_offered", game_id: "g1", by: "bob" });
  assert.deepEqual(rematchView(theirs), { button: "hidden", text: "bob offers a rematch.", answer: true });
  assert.equal(rematchNews(ready(), theirs), "bob offers a rematch.");
});

test("declines, expiries and departures say what happened", () => {
  const mine = step(ready(), { type: "rematch_offered", game_id: "g1", by: "ann" });
  const declined = step(mine, { type: "rematch_declined", game_id: "g1", by: "bob" });
  assert.equal(rematchNews(mine, declined), "bob declined the rematch.");
  assert.equal(rematchView(declined).button, "enabled");
  // The one who declined just sees the bar go.
  const theirs = step(ready(), { type: "rematch_offered", game_id: "g1", by: "bob" });
  const answered = step(theirs, { type: "rematch_declined", game_id: "g1", by: "ann" });
  assert.deepEqual(rematchView(answered), { button: "enabled", text: null, answer: false });
  const expired = step(mine, { type: "rematch_cancelled", game_id: "g1", by: "bob", reason: "expired" });
  assert.equal(rematchNews(mine, expired), "The rematch offer expired.");
  const gone = step(mine, { type: "rematch_cancelled", game_id: "g1", by: "bob", reason: "left" });
  assert.deepEqual(rematchView(gone), {
    button: "hidden",
    text: "bob has left: no rematch (challenge them from the lobby).",
    answer: false,
  });
});

test("refusals: the opponent left, the offer is gone, or a limit", () => {
  const sent = step(ready(), { type: "sent" });
  assert.equal(step(sent, { type: "error", code: "opponent_left" }).status, "gone");
  const theirs = step(ready(), { type: "rematch_offered", game_id: "g1", by: "bob" });
  const late = step(step(theirs, { type: "sent" }), { type: "error", code: "no_rematch_offer" });
  assert.deepEqual(rematchView(late), { button: "enabled", text: null, answer: false });
  const limited = step(sent, { type: "error", code: "rematch_offer_limit" });
  assert.deepEqual(limited, { ...ready(), sending: false });
});

test("another game's news and anything after leaving are ignored", () => {
  const shown = ready();
  assert.equal(step(shown, { type: "rematch_offered", game_id: "g0", by: "bob" }), shown);
  const left = step(shown, { type: "leave" });
  assert.equal(left, NO_REMATCH);
  assert.equal(step(left, { type: "rematch_offered", game_id: "g1", by: "bob" }), NO_REMATCH);
  assert.equal(step(left, { type: "error", code: "opponent_left" }), NO_REMATCH);
});
