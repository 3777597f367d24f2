// State updates the page makes outside the DOM: the title while hidden, the lobby filter
// (lobby_filter.test.js), the leaderboard's ratio.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Attention, attentionTitle } from "../attention.js";
import { ratioText } from "../leaderboard.js";

class FakeDocument extends EventTarget {
  constructor() {
    super();
    this.title = "c4actors";
    this.hidden = false;
  }
}

test("the title carries news only while the tab is hidden, and clears when seen", () => {
  const doc = new FakeDocument();
  const attention = new Attention(doc);
  attention.flag("Your turn");
  assert.equal(doc.title, "c4actors"); // visible: the page shows it already
  doc.hidden = true;
  attention.flag("Invitation from Bob");
  assert.equal(doc.title, attentionTitle("c4actors", "Invitation from Bob"));
  assert.equal(doc.title, "Invitation from Bob — c4actors");
  doc.hidden = false;
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.equal(doc.title, "c4actors");
});

test("the win ratio reads as a percentage", () => {
  assert.equal(ratioText(2 / 3), "67%");
  assert.equal(ratioText(0), "0%");
  assert.equal(ratioText(undefined), "–");
});
