// Who waits for which clock, as the lobby says it under "Play anyone" (seeking.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import { controlKey, seekStatusText, seekingLabel, waitingGroups } from "../seeking.js";

const nameOf = (c) => `${c.base_seconds / 60}+${c.increment_seconds}`;
const THREE_TWO = { base_seconds: 180, increment_seconds: 2 };
const ONE_ZERO = { base_seconds: 60, increment_seconds: 0 };

function lobby(rows) {
  return new Map(rows.map((row) => [row.name, row]));
}

test("seekers are grouped by clock, untimed first, me left out", () => {
  const users = lobby([
    { name: "me", state: "SEEKING", time_control: ONE_ZERO },
    { name: "ann", state: "SEEKING", time_control: THREE_TWO },
    { name: "bob", state: "SEEKING" },
    { name: "cy", state: "SEEKING", time_control: { base_seconds: 60.0, increment_seconds: 0 } },
    { name: "dee", state: "AVAILABLE" },
  ]);
  assert.deepEqual(waitingGroups(users, "me"), [
    { control: null, count: 1 },
    { control: { base_seconds: 60.0, increment_seconds: 0 }, count: 1 },
    { control: THREE_TWO, count: 1 },
  ]);
  assert.equal(controlKey(null), controlKey(undefined));
  assert.equal(controlKey({ base_seconds: 60 }), controlKey(ONE_ZERO));
  assert.notEqual(controlKey(ONE_ZERO), controlKey(THREE_TWO));
});

test("the line under Play anyone names the clocks someone waits for", () => {
  const groups = waitingGroups(lobby([{ name: "ann", state: "SEEKING", time_control: THREE_TWO }]), "me");
  assert.equal(
    seekStatusText("AVAILABLE", null, THREE_TWO, groups, nameOf),
    "Someone is waiting for a 3+2 game: press Play anyone to play them now.",
  );
  assert.equal(
    seekStatusText("AVAILABLE", null, null, groups, nameOf),
    "Waiting to play: 1 for 3+2. Pick that time control and press Play anyone to play them now.",
  );
  // An invalid custom clock matches nothing.
  assert.match(seekStatusText("AVAILABLE", null, undefined, groups, nameOf), /^Waiting to play/);
  const untimed = waitingGroups(lobby([{ name: "bob", state: "SEEKING" }]), "me");
  assert.equal(
    seekStatusText("AVAILABLE", null, null, untimed, nameOf),
    "Someone is waiting for an untimed game: press Play anyone to play them now.",
  );
  assert.equal(seekStatusText("AVAILABLE", null, null, [], nameOf), "");
  assert.equal(seekStatusText("SEEKING", null, THREE_TWO, groups, nameOf), "Looking for an opponent…");
  assert.equal(
    seekStatusText("SEEKING", ONE_ZERO, null, groups, nameOf),
    "Looking for an opponent for a 1+0 game…",
  );
});

test("a seeker's row says the clock", () => {
  assert.equal(seekingLabel(null, nameOf), "looking for a game");
  assert.equal(seekingLabel(THREE_TWO, nameOf), "looking for a game (3+2)");
});
