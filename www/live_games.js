// The lobby's list of games in progress (follow_games): both players in their colours,
// the number of moves and of spectators, and a Watch button per game. The server lists
// at most its lobby list limit of games and counts the rest (game_list.total), and sends
// game_list_update deltas while we are in the lobby, coalesced like the user list's.
//
// The state functions are pure (no DOM), so `node --test` runs them; the view draws with
// textContent only: the names come from other users.

/** A fresh view of the list from a `game_list` snapshot: game_id -> GameInfo, in list order. */
export function gamesFromList(msg) {
  const games = new Map();
  for (const info of msg?.games ?? []) if (info && typeof info.game_id === "string") games.set(info.game_id, info);
  return games;
}

/**
 * Apply a `game_list_update` to `games` (changed in place and returned): `ended` first,
 * then `games` (a new or changed row replaces the one with its game_id; a new one goes last).
 */
export function applyGamesUpdate(games, msg) {
  for (const gameId of msg?.ended ?? []) games.delete(gameId);
  for (const info of msg?.games ?? []) if (info && typeof info.game_id === "string") games.set(info.game_id, info);
  return games;
}

function plural(n, one, many) {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}

/** "No games in progress", "3 games in progress", or "120 games in progress · showing 100". */
export function gamesCountText(total, listed) {
  const all = Number.isInteger(total) ? Math.max(total, listed) : listed;
  if (all === 0) return "No games in progress";
  let text = `${plural(all, "game", "games")} in progress`;
  if (all > listed) text += ` · showing ${listed.toLocaleString("en")}`;
  return text;
}

/** "12 moves · 3 watching": what a row says besides the players. */
export function gameDetails(info) {
  const moves = Number.isInteger(info?.moves) ? info.moves : 0;
  const spectators = Number.isInteger(info?.spectators) ? info.spectators : 0;
  const parts = [plural(moves, "move", "moves")];
  if (spectators > 0) parts.push(`${spectators.toLocaleString("en")} watching`);
  return parts.join(" · ");
}

/** "1 watching", "3 watching", or "" when nobody watches (shown to the players). */
export function watchersText(count) {
  return Number.isInteger(count) && count > 0 ? `${count.toLocaleString("en")} watching` : "";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A player's name with a dot in their token colour (a CSS colour from the server). */
function playerChip(name, color) {
  const chip = el("span", "live-player");
  const dot = el("span", "live-dot");
  dot.setAttribute("aria-hidden", "true");
  if (typeof color === "string" && /^#[0-9a-fA-F]{6}$/.test(color)) dot.style.background = color;
  chip.append(dot, el("span", "live-name", name));
  return chip;
}

export class LiveGamesView {
  /**
   * @param {{list: HTMLElement, count: HTMLElement, empty: HTMLElement}} dom see index.html, #live-games
   * @param {{onWatch: (gameId: string) => void}} handlers
   */
  constructor(dom, { onWatch }) {
    this.dom = dom;
    this.items = new Map(); // game_id -> {li, players, details, button}, kept to keep focus
    dom.list.addEventListener("click", (event) => {
      const btn = event.target.closest("button[data-action='watch']");
      if (btn && !btn.disabled) onWatch(btn.dataset.game);
    });
  }

  /**
   * @param {Map<string, object>} games game_id -> GameInfo, in list order
   * @param {number|null} total games in progress, listed or not
   * @param {string|null} me my name: my own game has no Watch button
   */
  render(games, total, me) {
    const { list, count, empty } = this.dom;
    for (const [gameId, item] of this.items) {
      if (!games.has(gameId)) {
        item.li.remove();
        this.items.delete(gameId);
      }
    }
    let index = 0;
    for (const [gameId, info] of games) {
      let item = this.items.get(gameId);
      if (!item) {
        item = this.createItem(info);
        this.items.set(gameId, item);
      }
      item.details.textContent = gameDetails(info);
      const mine = !!me && (info.player1 === me || info.player2 === me);
      item.button.disabled = mine;
      item.button.title = mine ? "This is your game" : "";
      const current = list.children[index];
      if (current !== item.li) list.insertBefore(item.li, current ?? null);
      index += 1;
    }
    count.textContent = gamesCountText(total, games.size);
    empty.hidden = games.size > 0;
  }

  createItem(info) {
    const li = el("li", "live-game");
    li.dataset.game = info.game_id;
    const colors = info.colors ?? {};
    const players = el("span", "live-players");
    players.append(playerChip(info.player1, colors.player1), el("span", "live-vs", " vs "), playerChip(info.player2, colors.player2));
    const details = el("span", "live-details muted");
    const button = el("button", "btn btn-small", "Watch");
    button.type = "button";
    button.dataset.action = "watch";
    button.dataset.game = info.game_id;
    button.setAttribute("aria-label", `Watch ${info.player1} against ${info.player2}`);
    li.append(players, details, button);
    return { li, players, details, button };
  }
}
