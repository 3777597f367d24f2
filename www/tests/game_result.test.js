// game.js imports the server's rules (config.js fetches /api/config at load): a stub answers.
import { test } from "node:test";
import assert from "node:assert/strict";

globalThis.fetch = async () => ({
  ok: true,
  json: async () => ({ name: { pattern: "^[a-z]+$", max_length: 24 }, password: {}, palette: {}, guest_colors: {} }),
});
const { describeResult } = await import("../game.js");

test("a game lost to a server restart is told in plain words", () => {
  const over = { result: "restarted", winner: null, reason: null, line: null };
  assert.deepEqual(describeResult(over, "ann"), {
    headline: "Game over",
    detail: "— the server restarted: this game was not counted",
    outcome: "unknown",
  });
  assert.equal(describeResult({ result: "unknown" }, "ann").detail, "— it ended while you were disconnected");
});
