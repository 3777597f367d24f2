import { test } from "node:test";
import assert from "node:assert/strict";

import { ERROR_TEXT, errorText, moveAnnouncement, moveLines, recoveringText, secondsIn } from "../messages.js";

test("every code's words are the page's, never the server's detail", () => {
  const detail = "no user named 'Nobody' is online (wait 42 s)";
  for (const code of Object.keys(ERROR_TEXT)) {
    const text = errorText(code, { detail });
    assert.ok(text.length > 0, code);
    assert.ok(!text.includes("'Nobody'"), `${code}: ${text}`);
  }
  assert.equal(errorText("no_such_code", { detail }), "Something went wrong. Try again.");
});

test("the name sent and the seconds to wait are the only things taken in", () => {
  assert.equal(errorText("unknown_user", { name: "Nobody" }), "Nobody is not online.");
  assert.equal(
    errorText("declined_recently", { name: "bob", detail: "bob declined your challenge: you can challenge them in 41 s" }),
    "bob declined your challenge: you can challenge them again in 41 seconds.",
  );
  assert.equal(
    errorText("too_many_games", { detail: "you may start one game a minute: wait 1 s before the next" }),
    "You have started many games in a short time: wait 1 second before the next.",
  );
  assert.equal(errorText("too_many_games", { detail: "" }), ERROR_TEXT.too_many_games);
});

test("secondsIn reads a number of seconds, or nothing", () => {
  assert.equal(secondsIn("wait 12 s before"), 12);
  assert.equal(secondsIn("in 2.2 seconds"), 3);
  assert.equal(secondsIn("no number here"), null);
  assert.equal(secondsIn(undefined), null);
});

test("moves read with columns counted from 1", () => {
  assert.equal(moveAnnouncement("Bob", 3), "Bob played column 4");
  assert.deepEqual(moveLines([3, 4, 0], "ann", "bob"), ["ann: column 4", "bob: column 5", "ann: column 1"]);
  assert.deepEqual(moveLines(null, "ann", "bob"), []);
});

test("the notice of a session tried again says in how many seconds, at least one", () => {
  assert.equal(recoveringText(500), "The server is recovering from a fault: trying again in 1 second…");
  assert.equal(recoveringText(1000), "The server is recovering from a fault: trying again in 1 second…");
  assert.equal(recoveringText(7_300), "The server is recovering from a fault: trying again in 8 seconds…");
});
