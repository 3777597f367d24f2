// Who waits in the quick-pairing pool, and for which clock: read from the SEEKING rows of
// the lobby (each names the time_control it waits for; absent: untimed). The server pairs
// two seekers of the same clock at once, so each clock has at most one listed seeker; a
// seek pairs only with the same clock, so the page says which clocks have someone waiting.
// Pure: the naming of a clock is passed in (clock.js's controlName, which needs CONFIG).

/** The identity of a clock (null: untimed): seekers of equal keys are partners. */
export function controlKey(control) {
  if (!control) return "untimed";
  return `${Number(control.base_seconds)}+${Number(control.increment_seconds ?? 0)}`;
}

/**
 * The listed seekers other than `me`, grouped by clock: [{control, count}], untimed first,
 * then by base and increment.
 * @param {Map<string, {state: string, time_control?: object}>} users
 */
export function waitingGroups(users, me) {
  const groups = new Map();
  for (const [name, info] of users) {
    if (name === me || info?.state !== "SEEKING") continue;
    const control = info.time_control ?? null;
    const key = controlKey(control);
    const group = groups.get(key) ?? { control, count: 0 };
    group.count += 1;
    groups.set(key, group);
  }
  const order = (group) =>
    group.control ? [1, Number(group.control.base_seconds), Number(group.control.increment_seconds ?? 0)] : [0, 0, 0];
  return [...groups.values()].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
}

/** "a 3+2 game" / "an untimed game". */
function gameOf(control, nameOf) {
  return control ? `a ${nameOf(control)} game` : "an untimed game";
}

/**
 * The line under "Play anyone".
 * @param {string|undefined} myState my row's state
 * @param {object|null} myControl the clock I wait for (when SEEKING)
 * @param {object|null|undefined} picked the clock the picker shows (undefined: invalid)
 * @param {{control: object|null, count: number}[]} groups from waitingGroups
 * @param {(control: object) => string} nameOf "3+2"
 */
export function seekStatusText(myState, myControl, picked, groups, nameOf) {
  if (myState === "SEEKING") {
    return myControl ? `Looking for an opponent for ${gameOf(myControl, nameOf)}…` : "Looking for an opponent…";
  }
  if (groups.length === 0) return "";
  const match = picked === undefined ? null : groups.find((g) => controlKey(g.control) === controlKey(picked));
  if (match) return `Someone is waiting for ${gameOf(match.control, nameOf)}: press Play anyone to play them now.`;
  const list = groups.map((g) => `${g.count} for ${g.control ? nameOf(g.control) : "untimed"}`).join(", ");
  return `Waiting to play: ${list}. Pick that time control and press Play anyone to play them now.`;
}

/** A SEEKING row's status: "looking for a game", with the clock when timed. */
export function seekingLabel(control, nameOf) {
  return control ? `looking for a game (${nameOf(control)})` : "looking for a game";
}
