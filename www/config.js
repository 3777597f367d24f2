// The rules the page shares with the server (name syntax, password length, the palette,
// guests' colours, the grace period), read from the server once at start: GET /api/config.
// The page keeps no copy of its own, so the two cannot disagree (tests/test_page_config.py
// checks that www/ holds none). Every module that applies a rule imports CONFIG from here;
// the module graph waits for this one (top-level await) before any of them runs.

function deepFreeze(value) {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

async function loadConfig() {
  const response = await fetch("/api/config", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /api/config answered ${response.status}`);
  return deepFreeze(await response.json());
}

/**
 * @type {{
 *   name: {pattern: string, max_length: number},
 *   password: {min_length: number, max_length: number},
 *   palette: Object<string, string>,
 *   guest_colors: {player1: string, player2: string},
 *   grace_seconds: number,
 * }}
 */
export const CONFIG = await loadConfig();

/**
 * Write the rules into the page's static text: every element with `data-rule="name.max_length"`
 * (a dotted path into CONFIG) gets that value as its text.
 */
export function fillRuleTexts(root = document) {
  for (const el of root.querySelectorAll("[data-rule]")) {
    const value = el.dataset.rule.split(".").reduce((node, key) => node?.[key], CONFIG);
    if (value !== undefined) el.textContent = String(value);
  }
}
