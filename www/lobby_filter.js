// The lobby's search and status filter (issue 18): which rows to show when many are online.
// Pure, for `node --test`. Your own row always shows, so you never lose your bearings.

/** An empty filter: everyone. */
export const NO_FILTER = Object.freeze({ text: "", status: "" });

/**
 * Does the row of `name` (its UserInfo `info`) pass `filter`?
 * @param {{text: string, status: string}} filter text: part of the name, any case;
 *   status: a UserState ("AVAILABLE", ...) or "" for any
 */
export function rowShown(name, info, filter, me) {
  if (name === me) return true;
  const text = filter.text.trim().toLowerCase();
  if (text && !name.toLowerCase().includes(text)) return false;
  return !filter.status || info?.state === filter.status;
}
