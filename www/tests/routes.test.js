import { test } from "node:test";
import assert from "node:assert/strict";

import { parseRoute, routePath, sameRoute } from "../routes.js";

test("every view has an address that reads back as itself", () => {
  const routes = [
    { view: "lobby" },
    { view: "game", id: "g-7f3a" },
    { view: "profile", name: "ann_1" },
    { view: "replay", id: "a b/c?" },
    { view: "leaderboard" },
  ];
  for (const route of routes) assert.deepEqual(parseRoute(routePath(route)), route);
});

test("paths the page has no view for are not routes", () => {
  for (const path of ["/nope", "/game/", "/game/a/b", "/players", "/replay/%E0%A4%A", "/leaderboard/x"]) {
    assert.equal(parseRoute(path), null, path);
  }
});

test("sameRoute compares view and subject", () => {
  assert.ok(sameRoute({ view: "profile", name: "ann" }, { view: "profile", name: "ann" }));
  assert.ok(!sameRoute({ view: "profile", name: "ann" }, { view: "profile", name: "bob" }));
  assert.ok(!sameRoute(null, { view: "lobby" }));
});
