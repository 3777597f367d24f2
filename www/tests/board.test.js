import { test } from "node:test";
import assert from "node:assert/strict";

import { COLS, ROWS, dropRow, emptyBoard, findFours, positionAfter } from "../board.js";

test("an empty board, and tokens fall to the lowest empty row", () => {
  const board = emptyBoard();
  assert.equal(board.length, ROWS);
  assert.ok(board.every((row) => row === ".".repeat(COLS)));
  assert.equal(dropRow(board, 3), ROWS - 1);
  const { board: after } = positionAfter([3, 3], 2);
  assert.equal(dropRow(after, 3), ROWS - 3);
});

test("a full column has no row left", () => {
  const { board, error } = positionAfter([0, 0, 0, 0, 0, 0], 6);
  assert.equal(error, null);
  assert.equal(dropRow(board, 0), -1);
  assert.equal(positionAfter([0, 0, 0, 0, 0, 0, 0], 7).error, "move 7");
  assert.equal(positionAfter([9], 1).error, "move 1");
});

test("positions alternate players, player 1 first", () => {
  const { board, lastMove } = positionAfter([3, 4, 3], 3);
  assert.deepEqual(board.slice(4), ["...1...", "...12.."]);
  assert.deepEqual(lastMove, { row: 4, column: 3 });
});

test("findFours finds every line of four, and nothing else", () => {
  assert.deepEqual(findFours(positionAfter([0, 1, 0, 1, 0, 1], 6).board), []);
  const win = positionAfter([0, 1, 0, 1, 0, 1, 0], 7).board;
  const cells = findFours(win).map(([r, c]) => `${r},${c}`).sort();
  assert.deepEqual(cells, ["2,0", "3,0", "4,0", "5,0"]);
});
