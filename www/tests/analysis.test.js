import { test } from "node:test";
import assert from "node:assert/strict";

import { chartPoints, chartValues, gradeText, noteLines, verdictText } from "../analysis.js";

const v = (outcome, plies) => ({ outcome, plies, score: 0 });

test("verdicts and grades in words", () => {
  assert.equal(verdictText(v("win", 13)), "wins in 7 moves");
  assert.equal(verdictText(v("loss", 2)), "loses in 1 move");
  assert.equal(verdictText(v("draw", 30)), "draws");
  assert.equal(gradeText("blunder"), "Blunder");
  assert.equal(gradeText("nonsense"), "");
});

test("a note names the best columns counted from 1", () => {
  const lines = noteLines({ ply: 1, column: 0, before: v("win", 41), best: [3], after: v("draw", 40), grade: "mistake" }, "ann");
  assert.equal(lines.best, "Best: column 4.");
  assert.equal(lines.before, "Before this move, with perfect play ann wins in 21 moves.");
  assert.equal(lines.after, "After it, ann draws.");
  assert.equal(noteLines({ ply: 2, best: [2, 4], before: v("draw", 1), after: v("draw", 1) }, "bob").best, "Best: columns 3, 5.");
});

test("the chart follows player 1's verdict, one point per position", () => {
  const notes = [
    { ply: 1, before: v("win", 41), after: v("draw", 40) },
    { ply: 2, before: v("draw", 40), after: v("loss", 5) },
  ];
  assert.deepEqual(chartValues(notes), [1, 0, 1]);
  assert.equal(chartPoints([1, 0, -1], 100, 80), "0,8 50,40 100,72");
  assert.equal(chartPoints([], 100, 80), "");
});
