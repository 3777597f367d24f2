import { test } from "node:test";
import assert from "node:assert/strict";

import { NO_FILTER, rowShown } from "../lobby_filter.js";

const bob = { name: "Bob", state: "AVAILABLE" };
const cy = { name: "cy_2", state: "PLAYING" };

test("no filter shows everyone", () => {
  assert.ok(rowShown("Bob", bob, NO_FILTER, "ann"));
  assert.ok(rowShown("cy_2", cy, NO_FILTER, "ann"));
});

test("the text matches part of the name in any case", () => {
  assert.ok(rowShown("Bob", bob, { text: " bO ", status: "" }, "ann"));
  assert.ok(!rowShown("cy_2", cy, { text: "bo", status: "" }, "ann"));
});

test("the status keeps only that state", () => {
  assert.ok(!rowShown("Bob", bob, { text: "", status: "PLAYING" }, "ann"));
  assert.ok(rowShown("cy_2", cy, { text: "", status: "PLAYING" }, "ann"));
  assert.ok(!rowShown("cy_2", cy, { text: "x", status: "PLAYING" }, "ann"));
});

test("my own row always shows", () => {
  assert.ok(rowShown("ann", { state: "AVAILABLE" }, { text: "zzz", status: "PLAYING" }, "ann"));
});
