// Where a taken-over session went (tab_channel.js): another tab of this browser, or elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";

import { TabChannel, takenOverText } from "../tab_channel.js";

/** Two ends of one BroadcastChannel: what one posts, the other receives (not itself). */
function pair() {
  const a = new EventTarget();
  const b = new EventTarget();
  const post = (to) => (data) => to.dispatchEvent(Object.assign(new Event("message"), { data }));
  a.postMessage = post(b);
  b.postMessage = post(a);
  return [a, b];
}

test("a session opened in another tab is where it went, for a while", () => {
  let now = 1_000;
  const [one, two] = pair();
  const first = new TabChannel({ channel: one, now: () => now, id: "first" });
  const second = new TabChannel({ channel: two, now: () => now, id: "second" });
  assert.equal(first.whereWent("Ann"), "elsewhere");
  second.announce("Ann");
  assert.equal(first.whereWent("ann"), "tab"); // names are one case-insensitively
  assert.equal(first.whereWent("bob"), "elsewhere");
  assert.equal(second.whereWent("Ann"), "elsewhere"); // a tab's own news is not news
  now += 60_000;
  assert.equal(first.whereWent("Ann"), "elsewhere"); // old news explains nothing now
});

test("news that comes after the close is handed on", () => {
  const [one, two] = pair();
  const first = new TabChannel({ channel: one, id: "first" });
  const second = new TabChannel({ channel: two, id: "second" });
  const heard = [];
  first.onOpenedElsewhere = (name) => heard.push(name);
  second.announce("Ann");
  assert.deepEqual(heard, ["Ann"]);
});

test("without BroadcastChannel every takeover is elsewhere", () => {
  const lone = new TabChannel({ channel: null });
  lone.announce("Ann");
  assert.equal(lone.whereWent("Ann"), "elsewhere");
  assert.match(takenOverText("tab"), /another tab of this browser/);
  assert.match(takenOverText("elsewhere"), /another browser or on another device/);
  assert.match(takenOverText("tab"), /Play here to take it back\.$/);
});
