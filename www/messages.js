// The page's own words for every error the server can send (docs/protocol.md, "Error
// codes", and the HTTP API's codes in "Accounts"). Pure: no DOM, so `node --test` runs it.
//
// Why not show the server's `message`? It is written for developers and logs ("no user
// named 'Nobody' is online"), it quotes names back with Python's repr, and it can change
// without notice. The page says what happened in its own voice, naming only what it knows
// itself (the name it sent); from the server's text it takes at most a number of seconds.
// tests/test_page_messages.py fails when a code the server knows has no entry here.

export const ERROR_TEXT = {
  // The socket (protocol ErrorCode)
  bad_json: "The server could not read a message from this page. Reload the page.",
  bad_message: "The server could not read a message from this page. Reload the page.",
  unknown_type: "The server did not understand this page. Reload the page.",
  invalid_field: "The server did not understand this page. Reload the page.",
  too_large: "That was too long to send.",
  not_connected: "Still connecting: try again in a moment.",
  already_connected: "You are already connected.",
  invalid_name: "That name is not allowed: use letters, digits, _ and - only, and not too many.",
  name_taken: "That name is already online: pick another.",
  name_registered: "That name belongs to a registered player: sign in to use it.",
  account_mismatch: "This browser is signed in to another account.",
  store_unavailable: "The server cannot reach its records right now. Try again in a moment.",
  result_not_saved: "The server could not save this game: it does not count in the records.",
  self_challenge: "You can't challenge yourself.",
  not_available: "That player is busy right now (playing, or answering another challenge).",
  invalid_time_control: "That time control is outside what the server allows: pick a preset or change the custom clock.",
  too_many_games: "You have started many games in a short time: wait a little before the next.",
  declined_recently: "That player declined your challenge a moment ago: wait a little before asking again.",
  unknown_user: "No player by that name is online.",
  no_invitation: "That invitation is no longer open.",
  already_seeking: "You are already looking for a game.",
  not_seeking: "You are not looking for a game any more.",
  invalid_column: "There is no such column.",
  column_full: "Column full",
  not_your_turn: "Not your turn",
  stale_move: "That move was not played: the game moved on meanwhile. The board shows where it stands.",
  unknown_game: "This game is no longer running on the server.",
  game_over: "The game is over.",
  chat_too_long: "That message is too long: 140 characters at most.",
  chat_invalid: "That message is empty or holds characters chat does not allow (such as line breaks).",
  chat_flood: "Not sent: you are writing too fast, or repeating yourself.",
  chat_closed: "The chat of this game is closed.",
  chat_off: "Chat is turned off on this server.",
  no_draw_offer: "There is no draw offer to answer any more.",
  draw_offer_limit: "You have offered a draw recently: play a few moves first.",
  cannot_abort: "Both players have moved: the game can no longer be aborted (Quit forfeits it).",
  opponent_left: "Your opponent has left this game: challenge them from the lobby.",
  already_offered: "You have offered a rematch: waiting for the answer.",
  no_rematch_offer: "There is no rematch offer to answer any more.",
  rematch_offer_limit: "You have offered rematches twice in a minute: wait a little before the next.",
  not_watching: "You are not watching that game.",
  too_many_spectators: "That game has as many spectators as it can take: try again later.",
  watching_too_many: "You are watching as many games as you may: stop watching one first.",
  rate_limited: "Slow down a little, please: that was not sent.",
  busy: "The server is busy analysing other games: try again in a minute.",
  analysis_running: "Your previous analysis is still being computed: wait for it first.",
  analysis_limit: "You have asked for many analyses this hour: try again later.",
  analysis_failed: "The analysis could not be finished: try again.",
  server_shutdown: "The server is restarting.",
  server_recovering: "The server is recovering from a fault: try again in a few seconds. Your moves are kept.",
  internal_error: "Something went wrong on the server. Try again.",
  // The HTTP API only
  invalid_color: "Pick one of the colours shown.",
  invalid_password: "That password is too short or too long.",
  not_signed_in: "You are not signed in any more: sign in again.",
  wrong_credentials: "Wrong username or password.",
  too_many_attempts: "Too many failed sign-ins: wait before trying again.",
  too_many_registrations: "Too many new accounts from this address: try again later.",
  cross_site: "The server refused a request from another site.",
  json_required: "The server refused a request this page sent in the wrong form. Reload the page.",
  server_busy: "The server is busy: try again in a moment.",
  not_analysed: "This game has not been analysed yet.",
  timeout: "The request took too long: try again.",
  network: "Could not reach the server. Check your connection and try again.",
};

/** The first whole number of seconds in a server's detail ("wait 42 s"), or null. */
export function secondsIn(detail) {
  const match = /(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)/.exec(typeof detail === "string" ? detail : "");
  return match ? Math.max(1, Math.ceil(Number(match[1]))) : null;
}

function seconds(n) {
  return `${n} second${n === 1 ? "" : "s"}`;
}

/**
 * The notice while the page waits `ms` to open its session again, the server having refused
 * it for now (`server_recovering`: another server process is taking over).
 */
export function recoveringText(ms) {
  const n = Math.max(1, Math.ceil(ms / 1000));
  return `The server is recovering from a fault: trying again in ${seconds(n)}…`;
}

/**
 * The page's sentence for an error reply.
 * @param {string} code the error code
 * @param {{detail?: string, name?: string|null}} context the server's detail (only a
 *   number of seconds is taken from it) and the player's name the request was about
 */
export function errorText(code, { detail = "", name = null } = {}) {
  const wait = secondsIn(detail);
  const who = name || "That player";
  switch (code) {
    case "unknown_user":
      return name ? `${name} is not online.` : ERROR_TEXT.unknown_user;
    case "not_available":
      return name ? `${name} is busy right now (playing, or answering another challenge).` : ERROR_TEXT.not_available;
    case "declined_recently":
      return wait
        ? `${who} declined your challenge: you can challenge them again in ${seconds(wait)}.`
        : `${who} declined your challenge a moment ago: wait a little before asking again.`;
    case "rematch_offer_limit":
      return wait
        ? `You have offered rematches twice in a minute: wait ${seconds(wait)} before the next.`
        : ERROR_TEXT.rematch_offer_limit;
    case "too_many_games":
      return wait
        ? `You have started many games in a short time: wait ${seconds(wait)} before the next.`
        : ERROR_TEXT.too_many_games;
    case "name_taken":
      return name ? `${name} is already online: pick another name.` : ERROR_TEXT.name_taken;
    case "name_registered":
      return name ? `${name} belongs to a registered player: sign in to use it.` : ERROR_TEXT.name_registered;
    default:
      return ERROR_TEXT[code] ?? "Something went wrong. Try again.";
  }
}

/** What a screen reader hears when a player moves: "Bob played column 4" (counted from 1). */
export function moveAnnouncement(player, column) {
  return Number.isInteger(column) ? `${player} played column ${column + 1}` : `${player} played`;
}

/**
 * The move list's lines, oldest first: "ann: column 4" (columns counted from 1); player 1
 * made the odd moves.
 */
export function moveLines(moves, player1, player2) {
  return (Array.isArray(moves) ? moves : []).map(
    (column, index) => `${index % 2 === 0 ? player1 : player2}: column ${Number.isInteger(column) ? column + 1 : "?"}`,
  );
}
