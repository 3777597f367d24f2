import { test } from "node:test";
import assert from "node:assert/strict";

import { applyGamesUpdate, gameDetails, gamesCountText, gamesFromList, watchersText } from "../live_games.js";

const colors = { player1: "#d7263d", player2: "#f2c40f" };
const row = (id, moves = 0, spectators = 0) => ({ game_id: id, player1: `${id}a`, player2: `${id}b`, colors, moves, spectators });

test("a snapshot replaces the view, in list order", () => {
  const games = gamesFromList({ type: "game_list", games: [row("g1"), row("g2")], total: 2 });
  assert.deepEqual([...games.keys()], ["g1", "g2"]);
  assert.deepEqual(gamesFromList({}).size, 0);
});

test("an update applies ended first, then the changed and new rows", () => {
  const games = gamesFromList({ games: [row("g1"), row("g2")], total: 2 });
  applyGamesUpdate(games, { games: [row("g2", 5, 1), row("g3")], ended: ["g1", "gone"], total: 2 });
  assert.deepEqual([...games.keys()], ["g2", "g3"]);
  assert.equal(games.get("g2").moves, 5);
  // A game that ended and is listed again (left the list, came back): present.
  applyGamesUpdate(games, { games: [row("g1")], ended: ["g1"], total: 3 });
  assert.ok(games.has("g1"));
});

test("the count says when the list shows fewer games than are played", () => {
  assert.equal(gamesCountText(0, 0), "No games in progress");
  assert.equal(gamesCountText(1, 1), "1 game in progress");
  assert.equal(gamesCountText(2345, 100), "2,345 games in progress · showing 100");
  assert.equal(gamesCountText(null, 2), "2 games in progress");
  assert.equal(gamesCountText(1, 2), "2 games in progress"); // the count lags a tick: never fewer than shown
});

test("a row's details and the players' watcher count", () => {
  assert.equal(gameDetails(row("g", 1)), "1 move");
  assert.equal(gameDetails(row("g", 12, 3)), "12 moves · 3 watching");
  assert.equal(gameDetails({}), "0 moves");
  assert.equal(watchersText(0), "");
  assert.equal(watchersText(1), "1 watching");
  assert.equal(watchersText(1000), "1,000 watching");
  assert.equal(watchersText(undefined), "");
});
