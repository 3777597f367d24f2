// The page's addresses (issue 18): one per view, so Back/Forward, reload and a copied
// address all land on the same view. Pure: no DOM, so `node --test` runs it. The server
// answers exactly these paths with the page (c4actors/web.py, PAGE_PATHS) and 404 others.
//
//   /                    the lobby (or the first screen, before joining)
//   /game/<id>           your own game
//   /players/<name>      a registered player's profile
//   /replay/<id>         a stored game, move by move
//   /leaderboard         the top players

const PATTERNS = [
  [/^\/$/, () => ({ view: "lobby" })],
  [/^\/game\/([^/]+)$/, (id) => ({ view: "game", id })],
  [/^\/players\/([^/]+)$/, (name) => ({ view: "profile", name })],
  [/^\/replay\/([^/]+)$/, (id) => ({ view: "replay", id })],
  [/^\/leaderboard$/, () => ({ view: "leaderboard" })],
];

/** The route of a location's pathname; null for a path the page has no view for. */
export function parseRoute(pathname) {
  for (const [pattern, make] of PATTERNS) {
    const match = pattern.exec(pathname);
    if (!match) continue;
    try {
      return make(...match.slice(1).map(decodeURIComponent));
    } catch {
      return null; // a malformed %-escape
    }
  }
  return null;
}

/** The path of a route: the inverse of parseRoute. */
export function routePath(route) {
  const part = encodeURIComponent;
  switch (route.view) {
    case "game":
      return `/game/${part(route.id)}`;
    case "profile":
      return `/players/${part(route.name)}`;
    case "replay":
      return `/replay/${part(route.id)}`;
    case "leaderboard":
      return "/leaderboard";
    default:
      return "/";
  }
}

/** Same view and same subject: no new history entry is due. */
export function sameRoute(a, b) {
  return !!a && !!b && routePath(a) === routePath(b);
}
