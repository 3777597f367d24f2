import { test } from "node:test";
import assert from "node:assert/strict";

import { backoffDelay } from "../connection.js";

test("the first retry comes within half a second", () => {
  for (const r of [0, 0.5, 0.999]) assert.ok(backoffDelay(0, () => r) <= 500);
  assert.ok(backoffDelay(0, () => 0) >= 250);
});

test("the waits double, are jittered, and never exceed 10 s", () => {
  assert.equal(backoffDelay(1, () => 1), 1000);
  assert.equal(backoffDelay(2, () => 0), 1000);
  for (let attempt = 0; attempt < 40; attempt += 1) {
    for (const r of [0, 0.3, 1]) assert.ok(backoffDelay(attempt, () => r) <= 10_000, `${attempt}`);
  }
  assert.equal(backoffDelay(30, () => 1), 10_000);
  assert.equal(backoffDelay(30, () => 0), 5_000);
});
