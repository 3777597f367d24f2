// Entry point: the client state machine. Views are "loading" | "name" (the first
// screen) | "lobby" | "game" | "profile" | "replay"; server messages and user actions
// move between them. Rendering is delegated to entry.js, account.js, lobby.js,
// game.js, profile.js and replay.js, the socket to connection.js, HTTP to api.js.

import { api, commonProblem } from "./api.js";
import { AccountPanel, findAccountDom } from "./account.js";
import { GuestBar, findGuestDom } from "./guest.js";
import { Connection, socketUrl } from "./connection.js";
import { EntryView, NAME_RE, findEntryDom } from "./entry.js";
import { LobbyView } from "./lobby.js";
import { GameView } from "./game.js";
import { ChatView } from "./chat.js";
import { DrawControls } from "./draw.js";
import { RematchControls } from "./rematch.js";
import { TimeControlPicker, controlName } from "./clock.js";
import { ProfileView, findProfileDom } from "./profile.js";
import { ReplayView, findReplayDom } from "./replay.js";
import { LiveGamesView, applyGamesUpdate, gamesFromList, watchersText } from "./live_games.js";
import { WatchView, findWatchDom } from "./watch.js";
import { HEARTBEAT_MS, sharedGuest, tabSession as store } from "./saved_session.js";
import { dropRow, emptyBoard } from "./board.js";
import { applyTokenColors } from "./colors.js";
import { fillRuleTexts } from "./config.js";
import { LeaderboardView } from "./leaderboard.js";
import { parseRoute, routePath, sameRoute } from "./routes.js";
import { errorText, moveAnnouncement, moveLines, recoveringText, secondsIn } from "./messages.js";
import { Attention } from "./attention.js";
import { SoundPreference, playAlert, soundToggleText } from "./sound.js";
import { TabChannel, takenOverText } from "./tab_channel.js";

const NOTICE_MS = 8_000;
// After a resume the server sends game_started right after user_list; wait this
// long for it before concluding the game is gone.
const RESUME_GAME_WAIT_MS = 1_500;
// If the server never answers a challenge, don't leave every button disabled.
const CHALLENGE_WAIT_MS = 5_000;

// Refusals of new_connection: the session cannot open under this name.
const NAME_ERRORS = new Set(["name_taken", "invalid_name", "name_registered", "account_mismatch", "store_unavailable"]);
// Views that live beside the lobby: the socket stays up and the account bar is shown.
const LOBBY_SIDE = new Set(["lobby", "profile", "replay", "leaderboard", "watch"]);
// Views that need no session: a copied address opens them in any browser.
const PUBLIC_VIEWS = new Set(["profile", "replay", "leaderboard"]);


// --------------------------------------------------------------------------- DOM

const $ = (id) => document.getElementById(id);

const dom = {
  connectionBanner: $("connection-banner"),
  greeting: $("greeting"),
  notice: $("notice"),
  srLive: $("sr-live"),
  views: {
    loading: $("loading"),
    name: $("name-view"),
    lobby: $("lobby"),
    game: $("game"),
    profile: $("profile"),
    replay: $("replay"),
    leaderboard: $("leaderboard"),
    watch: $("watch"),
  },
  loadingText: $("loading-text"),
  lobbyTitle: $("lobby-title"),
  result: $("result"),
};

// --------------------------------------------------------------------------- state

const state = {
  view: null,
  me: null, // name confirmed by the server's welcome
  wantedName: null, // name sent in new_connection
  sessionOpen: false, // welcome received on the current socket
  settling: false, // first user_list after a welcome decides which view to show
  users: new Map(), // name -> UserInfo: the listed users, and always me
  online: null, // users connected, listed or not (the server lists a bounded number)
  incoming: [], // challengers, oldest first; they need not be listed
  outgoing: null, // the user we challenged, while pending
  challenging: null, // challenge sent, invitation_sent not yet received
  answering: new Set(), // challengers we just accepted
  seekSent: false, // seek or unseek sent, my row's change not yet seen
  controls: new Map(), // name -> the time control of our pending invitation with them
  game: null,
  chat: true, // whether games have a chat on this server (welcome.chat)
  games: new Map(), // game_id -> GameInfo: the listed games in progress (follow_games)
  gamesTotal: null, // games in progress, listed or not
  watch: null, // the game watched: {id, over, moves}
  pendingWatch: null, // a game address opened before the session: watch it once joined
};

const timers = { notice: null, resume: null, challenge: null };

// The optional tone of a hidden tab's alerts, and its visible toggle (remembered).
// Read through these, so a storage the browser refuses (private modes) is a silent default.
const sound = new SoundPreference({
  getItem: (key) => localStorage.getItem(key),
  setItem: (key, value) => localStorage.setItem(key, value),
});
const attention = new Attention(document, { sound: () => playAlert(sound) });
function showSoundToggle() {
  const toggle = $("sound-toggle");
  toggle.textContent = soundToggleText(sound.enabled);
  toggle.setAttribute("aria-pressed", String(sound.enabled));
}
$("sound-toggle").addEventListener("click", () => {
  sound.enabled = !sound.enabled;
  showSoundToggle();
});
showSoundToggle();

// Which tab of this browser holds an account's session: a tab that loses it says where it went.
const tabs = new TabChannel();
tabs.onOpenedElsewhere = (name) => {
  // The news can come just after our socket was closed: say it once it does.
  if (state.takenOver && state.takenOver.toLowerCase() === name.toLowerCase() && state.view === "name" && account.signedIn) {
    entry.showAccount(account.account, takenOverText("tab"));
  }
};

/** True while the person is typing in a field: focus must not be taken from them. */
function typing() {
  const active = document.activeElement;
  return !!active && (active.tagName === "TEXTAREA" || active.tagName === "SELECT" || (active.tagName === "INPUT" && active.type !== "radio"));
}

// --------------------------------------------------------------------------- views

function showView(name, { loadingText = "Connecting…" } = {}) {
  if (state.view === "game" && name !== "game") leaveResult();
  state.view = name;
  dom.loadingText.textContent = loadingText;
  for (const [key, section] of Object.entries(dom.views)) section.hidden = key !== name;
  account.setBarVisible(LOBBY_SIDE.has(name));
  showGuestBar();
}

/** "Change name" and "Leave": a guest's, on the lobby's side of the site. */
function showGuestBar() {
  guestBar.setVisible(LOBBY_SIDE.has(state.view) && !!state.me && !account.signedIn);
}

function showNotice(text) {
  clearTimeout(timers.notice);
  dom.notice.textContent = text;
  dom.notice.hidden = false;
  timers.notice = setTimeout(hideNotice, NOTICE_MS);
}

function hideNotice() {
  clearTimeout(timers.notice);
  dom.notice.hidden = true;
  dom.notice.textContent = "";
}

function announce(text) {
  // Clearing first makes screen readers repeat an identical message.
  dom.srLive.textContent = "";
  requestAnimationFrame(() => {
    dom.srLive.textContent = text;
  });
}

function showBanner(text) {
  dom.connectionBanner.textContent = text;
  dom.connectionBanner.hidden = false;
}

function hideBanner() {
  dom.connectionBanner.hidden = true;
  dom.connectionBanner.textContent = "";
}

// The rules' texts and the guests' token colours come from the server (config.js).
fillRuleTexts();
applyTokenColors(document.documentElement, null);

const entry = new EntryView(findEntryDom(), {
  onGuest: joinAsGuest,
  onSignedIn: joinAsAccount,
  onAccountPlay: () => {
    entry.setAccountBusy(true);
    joinAsAccount(account.account);
  },
  onSignOut: signOut,
});

const account = new AccountPanel(findAccountDom(), { onProfile: openProfile, onSignOut: signOut });

const guestBar = new GuestBar(findGuestDom(), {
  onRename: renameGuest,
  onLeave: leaveLobby,
  current: () => state.me,
  online: (name) => [...state.users.keys()].some((listed) => listed.toLowerCase() === name.toLowerCase()),
});

const profileView = new ProfileView(findProfileDom(), { onBack: () => enterLobby(), onReplay: openReplay });

const replayView = new ReplayView(findReplayDom(), {
  onClose: closeReplay,
  onAnalyse: (gameId) => {
    if (!state.sessionOpen) return false;
    conn.send({ type: "analyse", game_id: gameId });
    return true;
  },
  canAnalyse: () => state.sessionOpen,
});

const leaderboardView = new LeaderboardView(
  { root: $("leaderboard"), title: $("leaderboard-title"), status: $("leaderboard-status"), table: $("leaderboard-table") },
  { onProfile: openProfile },
);

const lobby = new LobbyView(
  {
    tbody: document.querySelector("#user-table tbody"),
    emptyEl: $("lobby-empty"),
    countEl: $("online-count"),
    challengeForm: $("challenge-form"),
    challengeInput: $("challenge-name"),
    challengeSubmit: $("challenge-submit"),
    challengeError: $("challenge-error"),
    seekButton: $("seek"),
    seekStatus: $("seek-status"),
    invitations: $("invitations"),
    invitationList: $("invitation-list"),
    filterForm: $("lobby-filter"),
    filterName: $("filter-name"),
    filterStatus: $("filter-status"),
    filterEmpty: $("filter-empty"),
  },
  {
    onChallenge: challenge,
    onAccept: accept,
    onDecline: decline,
    onCancel: cancelChallenge,
    onProfile: openProfile,
    onSeek: () => sendSeek("seek"),
    onUnseek: () => sendSeek("unseek"),
  },
);

const timeControl = new TimeControlPicker({
  select: $("time-control-select"),
  custom: $("time-control-custom"),
  base: $("time-control-base"),
  increment: $("time-control-increment"),
  error: $("time-control-error"),
});
// The invitation rows name the clock offered ("ann challenges you to a 3+2 game").
lobby.invitationNote = (name) => {
  const control = state.controls.get(name);
  return control ? `a ${controlName(control)} game` : null;
};
// Play anyone seeks the picker's clock; the line under it follows the picker.
lobby.controlName = controlName;
lobby.pickedControl = () => {
  try {
    return timeControl.value();
  } catch {
    return undefined; // an invalid custom clock: the picker says why on a press
  }
};
for (const input of [$("time-control-select"), $("time-control-base"), $("time-control-increment")]) {
  input.addEventListener("input", () => lobby.renderSeek());
  input.addEventListener("change", () => lobby.renderSeek());
}

const gameView = new GameView(
  {
    game: $("game"),
    board: $("board"),
    columns: $("columns"),
    opponentLine: $("opponent-line"),
    legendYou: $("legend-you"),
    legendOpp: $("legend-opp"),
    turn: $("turn"),
    moveTimer: $("move-timer"),
    clocks: $("clocks"),
    clockYou: $("clock-you"),
    clockOpp: $("clock-opp"),
    clockYouTime: $("clock-you-time"),
    clockOppTime: $("clock-opp-time"),
    clockOppLabel: $("clock-opp-label"),
    gameMessage: $("game-message"),
    opponentBanner: $("opponent-banner"),
    result: $("result"),
    quit: $("quit"),
    backToLobby: $("back-to-lobby"),
    quitDialog: $("quit-dialog"),
    spectators: $("spectator-count"),
  },
  { onMove: tryMove, onQuit: quitGame, onBack: backToLobby },
);

const drawControls = new DrawControls(
  {
    offer: $("offer-draw"),
    abort: $("abort"),
    bar: $("draw-offer"),
    text: $("draw-offer-text"),
    accept: $("draw-accept"),
    decline: $("draw-decline"),
  },
  { onOffer: offerDraw, onAnswer: answerDraw, onAbort: abortGame },
);

const liveGames = new LiveGamesView(
  { list: $("live-games-list"), count: $("live-games-count"), empty: $("live-games-empty") },
  { onWatch: (gameId) => startWatching(gameId) },
);

const watchView = new WatchView(findWatchDom(), { onBack: stopWatching });

const rematch = new RematchControls(
  {
    button: $("rematch"),
    bar: $("rematch-offer"),
    text: $("rematch-offer-text"),
    accept: $("rematch-accept"),
    decline: $("rematch-decline"),
  },
  {
    onOffer: (gameId) => conn.send({ type: "rematch", game_id: gameId }),
    onAnswer: (gameId, accept) => conn.send({ type: "answer_rematch", game_id: gameId, accept }),
    onNews: (text, incoming) => {
      // In the fixed notice (a live region) too: the bar may be out of view on a small screen.
      showNotice(text);
      attention.flag(text);
      if (incoming && !typing()) rematch.focusAccept();
    },
  },
);

/** The person leaves the result screen on display (back to the lobby, another view): the
 * server calls a rematch offer off and tells the opponent. Once per result screen. */
function leaveResult() {
  const gameId = rematch.gameId;
  if (gameId) conn.send({ type: "leave_result", game_id: gameId });
  rematch.apply({ type: "leave" });
}

const chatView = new ChatView(
  {
    panel: $("chat"),
    log: $("chat-log"),
    form: $("chat-form"),
    input: $("chat-input"),
    mute: $("chat-mute"),
    mutedNote: $("chat-muted-note"),
    error: $("chat-error"),
  },
  { onSend: sendChat },
);

function renderLobby() {
  if (!state.me) return;
  lobby.renderUsers(state.users, state.me, state.challenging, state.online, state.seekSent);
  lobby.renderInvitations(state.incoming, state.outgoing, state.answering);
  liveGames.render(state.games, state.gamesTotal, state.me);
}

/** The game view's move list: new lines appended (its scroll position survives), rebuilt for a new game. */
function renderMoveList(game) {
  const list = $("move-list");
  const lines = moveLines(game.moves, game.player1, game.player2);
  const shown = [...list.children].map((li) => li.textContent);
  if (shown.length > lines.length || shown.some((line, i) => line !== lines[i])) list.replaceChildren();
  for (let i = list.children.length; i < lines.length; i += 1) {
    const li = document.createElement("li");
    li.textContent = lines[i];
    list.append(li);
  }
  $("move-list-empty").hidden = lines.length > 0;
}

// --------------------------------------------------------------------------- connection

const conn = new Connection({
  url: socketUrl(),
  hello: () => ({ type: "new_connection", username: state.wantedName, resume: store.token }),
  onMessage: handleMessage,
  onStatus: (status) => {
    // Down from the first lost link until the session is back (attempts in between too).
    const down = status === "down" || (dom.views.game.classList.contains("offline") && (status === "connecting" || status === "handshake"));
    $("reconnect-now").hidden = !down;
    // The board is visibly out of play while the link is down (a click says why: tryMove).
    dom.views.game.classList.toggle("offline", down);
    if (down) {
      state.sessionOpen = false;
      showBanner("Disconnected — reconnecting…");
    } else if (status === "ready" || status === "stopped") {
      hideBanner();
    } else if (status === "taken") {
      hideBanner();
      sessionTakenOver();
    }
  },
});

$("reconnect-now").addEventListener("click", () => conn.reconnectNow());

// Play the computer: the game starts at once (game_started), its seat played on the server.
$("computer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!state.sessionOpen) return;
  conn.send({ type: "play_computer", level: $("computer-level").value, first: $("computer-first").value });
});

// After a stored game: its perfect-play analysis, in the replay view.
$("analyse-game").addEventListener("click", () => {
  if (state.game) openReplay(state.game.id, { analyse: true });
});

function handleMessage(msg) {
  const handler = HANDLERS[msg.type];
  if (handler) handler(msg);
  else console.warn("Unknown message type from server:", msg.type);
}

const HANDLERS = {
  welcome(msg) {
    const renamed = state.renamedFrom;
    state.renamedFrom = null;
    state.me = msg.username;
    state.wantedName = msg.username;
    state.sessionOpen = true;
    state.chat = msg.chat !== false; // the server says whether games have a chat
    // A new session is a fresh page to the server: it left the result screen of the last one.
    rematch.apply({ type: "leave" });
    store.save(msg.username, msg.resume);
    // A guest's token outlives this tab for the grace period; an account needs none.
    if (msg.account) {
      sharedGuest.forget();
      tabs.announce(msg.username); // a tab of this browser that had the session learns where it went
    }
    else sharedGuest.hold(msg.username, msg.resume, msg.grace_seconds);
    conn.ready();
    // The list of games in progress is opt-in: ask for it on every new session.
    conn.send({ type: "follow_games" });
    entry.settled();
    dom.greeting.textContent = `Hello ${msg.username}`;
    dom.greeting.hidden = false;
    if (msg.account && !account.signedIn) refreshAccount();
    else if (!msg.account && account.signedIn) account.hide();
    account.paintGreeting();
    guestBar.closeForm();
    showGuestBar();
    if (renamed) {
      showNotice(`You are now ${msg.username}.`);
      announce(`You are now ${msg.username}.`);
    }
    // Stay where we are if a game, the lobby or a profile is on screen; otherwise wait
    // for user_list to choose.
    state.settling = true;
    if (state.view !== "game" && !LOBBY_SIDE.has(state.view)) showView("loading");
  },

  left_lobby(msg) {
    // The session ended on this socket (our `leave`). Changing name: the new name's
    // welcome, or its refusal, follows on the same socket.
    state.sessionOpen = false;
    if (state.renamedFrom) return;
    endSession(); // nothing more to say on this socket
    go({ view: "lobby" });
    showView("name");
    entry.show({ tab: "guest", username: msg.username });
    showNotice(`You left the lobby, ${msg.username}: a guest's record is forgotten.`);
  },

  user_list(msg) {
    rematch.apply({ type: "user_list" }); // after game_over: the lobby has the result
    state.seekSent = false; // my row is in it, whatever became of the seek
    state.users = new Map((msg.users ?? []).map((u) => [u.name, u]));
    state.online = Number.isInteger(msg.online) ? msg.online : null;
    // A full snapshot is authoritative about my own state: drop the invitations it
    // rules out. Not about who is online: a challenger need not be listed.
    const mine = state.users.get(state.me)?.state;
    if (mine !== undefined && mine !== "INVITATION_RECEIVED") {
      state.incoming = [];
      state.answering.clear();
    }
    if (mine !== undefined && mine !== "INVITATION_SENT") state.outgoing = null;
    renderLobby();
    if (state.settling) {
      state.settling = false;
      settleAfterWelcome(mine);
    }
  },

  lobby_update(msg) {
    // `left` means gone from the server, not merely off the list; an unlisted user's
    // leaving is told by invitation_cancelled (reason "left") instead.
    const left = new Set(msg.left ?? []);
    for (const name of left) {
      state.users.delete(name);
      if (state.outgoing === name) state.outgoing = null;
      state.answering.delete(name);
    }
    state.incoming = state.incoming.filter((name) => !left.has(name));
    for (const user of msg.users ?? []) {
      if (user.name === state.me && user.state !== state.users.get(user.name)?.state) state.seekSent = false;
      state.users.set(user.name, user);
    }
    if (Number.isInteger(msg.online)) state.online = msg.online;
    renderLobby();
  },

  game_list(msg) {
    state.games = gamesFromList(msg);
    state.gamesTotal = Number.isInteger(msg.total) ? msg.total : null;
    renderLobby();
  },

  game_list_update(msg) {
    applyGamesUpdate(state.games, msg);
    if (Number.isInteger(msg.total)) state.gamesTotal = msg.total;
    renderLobby();
  },

  watching(msg) {
    if (msg.rematch_of && state.watch?.id !== msg.rematch_of) {
      // The server moved us from a finished game to its rematch, but this page no longer
      // shows that game (back to the lobby, or watching another): stay where we are.
      conn.send({ type: "unwatch", game_id: msg.game_id });
      return;
    }
    state.pendingWatch = null;
    const again = state.watch?.id === msg.game_id && state.view === "watch";
    state.watch = { id: msg.game_id, over: false, moves: -1 };
    if (!again) watchView.start(msg);
    else watchView.setSpectators(msg.spectators);
    go({ view: "game", id: msg.game_id });
    if (state.view !== "watch") {
      showView("watch");
      watchView.focusTitle();
      announce(`Watching ${msg.player1} against ${msg.player2}`);
    } else if (msg.rematch_of) {
      showNotice(`Rematch: ${msg.player1} against ${msg.player2}, ${msg.player1} moves first.`);
    }
  },

  unwatched(msg) {
    if (state.watch?.id !== msg.game_id) return;
    state.watch = null;
    // Our own game started (game_started shows it), or we asked: back to the lobby.
    if (state.view === "watch") enterLobby();
  },

  spectator_count(msg) {
    if (state.game?.id === msg.game_id) gameView.setSpectators(watchersText(msg.spectators));
  },

  invitation_sent(msg) {
    state.controls.set(msg.to, msg.time_control ?? null);
    clearTimeout(timers.challenge);
    state.challenging = null;
    state.outgoing = msg.to;
    // Challenging while holding an invitation declined it on the server.
    state.incoming = [];
    state.answering.clear();
    lobby.challengeSent(msg.to);
    renderLobby();
  },

  invitation(msg) {
    const from = msg.from;
    state.controls.set(from, msg.time_control ?? null);
    if (!state.incoming.includes(from)) state.incoming.push(from);
    renderLobby();
    announce(`${from} challenges you. Press Enter to accept.`);
    attention.flag(`Invitation from ${from}`);
    // One key press to accept: the Accept button (in the fixed dock) takes the focus,
    // unless the person is typing somewhere.
    if (!typing()) lobby.acceptButton(from)?.focus({ preventScroll: true });
  },

  invitation_declined(msg) {
    clearTimeout(timers.challenge);
    if (state.outgoing === msg.by) state.outgoing = null;
    if (state.challenging === msg.by) state.challenging = null;
    renderLobby();
    showNotice(`${msg.by} declined your challenge`);
  },

  invitation_cancelled(msg) {
    // Either side: the challenger withdrew (reason "cancelled", or missing from an older
    // server), the other side of an invitation in either direction left ("left"), or
    // nobody answered in time ("expired", told to both sides; `by` is the other side).
    const mine = state.outgoing === msg.by || state.challenging === msg.by;
    state.incoming = state.incoming.filter((name) => name !== msg.by);
    state.answering.delete(msg.by);
    if (state.outgoing === msg.by) state.outgoing = null;
    if (state.challenging === msg.by) {
      clearTimeout(timers.challenge);
      state.challenging = null;
    }
    renderLobby();
    showNotice(cancelledText(msg.reason, msg.by, mine));
  },

  game_started(msg) {
    clearTimeout(timers.resume);
    // Playing ends watching (the server says unwatched too); an address of our own game
    // opened before the session is that game, not one to watch.
    state.watch = null;
    state.pendingWatch = null;
    hideNotice(); // lobby news is stale once the game is on
    clearTimeout(timers.challenge);
    state.incoming = [];
    state.outgoing = null;
    state.challenging = null;
    state.answering.clear();
    state.seekSent = false;
    renderLobby();

    const resumed = state.game?.id === msg.game_id;
    rematch.apply({ type: "leave" }); // a rematch that starts is the end of its result screen
    const you = msg.you === 2 ? 2 : 1;
    const meta = {
      id: msg.game_id,
      player1: msg.player1,
      player2: msg.player2,
      colors: msg.colors ?? {},
      you,
      opponent: you === 1 ? msg.player2 : msg.player1,
      timeControl: msg.time_control ?? null,
    };
    if (resumed) {
      Object.assign(state.game, meta);
      state.game.synced = false; // the next game_state may jump several moves
    } else {
      state.game = {
        ...meta,
        board: emptyBoard(),
        moves: [],
        next: msg.player1, // player1 always opens
        lastMove: null,
        over: null,
        awaiting: false,
        // After a reload the first game_state jumps to the current position: don't animate it.
        synced: state.view !== "loading",
      };
    }
    $("analyse-game").hidden = true;
    gameView.start(state.game, state.me, { resumed });
    if (!resumed) gameView.setSpectators(""); // nobody watches a new game yet
    if (!resumed) chatView.start(state.me, state.game.opponent, state.chat);
    drawControls.start(state.game.moves.length);
    go({ view: "game", id: msg.game_id });
    renderMoveList(state.game);
    showView("game");
    gameView.focusBoard();
    if (msg.rematch_of && !resumed) {
      const first = you === 1 ? "you move first" : `${state.game.opponent} moves first`;
      showNotice(`Rematch with ${state.game.opponent}: ${first}.`);
    } else if (!resumed) announce(`Game started: you are playing with ${state.game.opponent}`);
  },

  game_state(msg) {
    const watched = state.watch;
    if (watched && watched.id === msg.game_id) {
      const moves = Array.isArray(msg.moves) ? msg.moves.length : 0;
      watchView.update(msg, watched.moves >= 0 && moves === watched.moves + 1);
      watched.moves = moves;
      return;
    }
    const game = state.game;
    if (!game || game.id !== msg.game_id) return;
    const before = game.moves.length;
    const moves = Array.isArray(msg.moves) ? msg.moves : [];
    game.board = Array.isArray(msg.board) && msg.board.length === 6 ? msg.board : game.board;
    game.moves = moves;
    game.next = msg.next ?? null;
    game.lastMove = msg.last_move ?? null;
    // Seconds the side to move has, counted from now: a local deadline (no clock sync needed).
    const toMove = Number(msg.seconds_to_move);
    game.moveDeadline = msg.seconds_to_move != null && Number.isFinite(toMove) ? Date.now() + toMove * 1000 : null;
    game.clocks = msg.clocks ?? null;
    game.clocksAt = Date.now();
    game.awaiting = false;
    const animate = game.synced && moves.length === before + 1;
    game.synced = true;
    if (moves.length !== before) gameView.clearMessage();
    drawControls.update(moves.length);
    // Player 1 makes the odd plies: the mover of the last one answers any offer made to them.
    if (moves.length === before + 1) drawControls.moved(moves.length % 2 === 1 ? game.player1 : game.player2);
    // The opponent just moved, so they are back even if opponent_reconnected got lost.
    if (moves.length > before && game.next === state.me) gameView.hideOpponentBanner();
    gameView.update(game, state.me, animate);
    renderMoveList(game);
    // Only a move seen live is news: a resumed game's jump to the current position is not.
    if (animate && game.next === state.me) {
      announce(moveAnnouncement(game.opponent, moves[moves.length - 1]));
      attention.flag("Your turn");
    }
  },

  game_over(msg) {
    const watched = state.watch;
    if (watched && watched.id === msg.game_id) {
      watched.over = true; // the server ends the watching with the game
      const text = watchView.finish(msg);
      if (state.view === "watch") announce(text);
      return;
    }
    const game = state.game;
    if (!game || game.id !== msg.game_id) return;
    game.over = {
      result: msg.result,
      winner: msg.winner ?? null,
      reason: msg.reason,
      line: Array.isArray(msg.line) ? msg.line : null,
    };
    game.next = null;
    game.awaiting = false;
    drawControls.finish();
    gameView.finish(game, state.me);
    rematch.apply({ type: "game_over", game_id: game.id, opponent: game.opponent }, state.me);
    // A game is stored once both players moved: then it can be analysed.
    $("analyse-game").hidden = game.moves.length < 2 || msg.reason === "aborted";
    // In the fixed notice too: on a small screen the result under the board may be out of view.
    showNotice(dom.result.textContent);
    attention.flag(dom.result.textContent);
  },

  draw_offered(msg) {
    if (!state.game || state.game.id !== msg.game_id || state.game.over) return;
    drawControls.offered(msg.by, state.me);
    if (msg.by !== state.me) announce(`${msg.by} offers a draw`);
  },

  draw_declined(msg) {
    if (!state.game || state.game.id !== msg.game_id || state.game.over) return;
    drawControls.declined(msg.by, state.me);
    if (msg.by !== state.me) announce(`${msg.by} declined your draw offer`);
  },

  rematch_offered(msg) {
    rematch.apply(msg, state.me);
  },

  rematch_declined(msg) {
    rematch.apply(msg, state.me);
  },

  rematch_cancelled(msg) {
    rematch.apply(msg, state.me);
  },

  chat_message(msg) {
    // Only the game on screen: a finished game's chat ends when its player leaves it.
    if (state.game && state.game.id === msg.game_id) chatView.add(msg);
    else if (state.watch && state.watch.id === msg.game_id) watchView.addChat(msg);
  },

  opponent_disconnected(msg) {
    if (state.game && state.game.id === msg.game_id && !state.game.over) {
      gameView.opponentDisconnected(msg.grace_seconds);
      announce(`Your opponent disconnected. They have ${Math.round(msg.grace_seconds)} seconds to come back.`);
    }
  },

  analysis_progress(msg) {
    replayView.analysisProgress(msg);
  },

  analysis(msg) {
    replayView.analysisArrived(msg);
  },

  opponent_reconnected(msg) {
    if (state.game && state.game.id === msg.game_id) {
      gameView.hideOpponentBanner();
      announce("Your opponent is back.");
    }
  },

  error(msg) {
    const code = msg.code;
    const challenged = state.challenging;
    const answered = [...state.answering][0] ?? null;
    const about = msg.ref === "challenge" ? challenged : msg.ref === "accept" ? answered : state.wantedName;
    // The page's own words: never the server's text as is (see messages.js).
    const seeking = msg.ref === "seek" || msg.ref === "unseek";
    const text =
      seeking && code === "not_available"
        ? "Finish your current invitation or game first."
        : errorText(code, { detail: msg.message, name: seeking ? null : about });
    if (msg.ref === "chat") {
      // Beside the chat input; a refused chat message changes nothing else.
      chatView.showError(text);
      return;
    }
    if (msg.ref === "watch" || msg.ref === "unwatch") {
      // The game cannot be watched (over, unknown, full): say so over the lobby.
      state.pendingWatch = null;
      if (msg.ref === "watch" && (state.view === "watch" || state.view === "loading")) {
        state.watch = null;
        enterLobby();
      }
      if (msg.ref === "watch") showNotice(text);
      return;
    }
    if (msg.ref === "rematch" || msg.ref === "answer_rematch") {
      // On the result screen, under the board; the bar says what became of the offer.
      rematch.apply({ type: "error", code });
      const opponent = state.game?.opponent ?? null;
      gameView.showMessage(code === "declined_recently" ? rematchCooldownText(opponent, msg.message) : text);
      return;
    }
    if (msg.ref === "analyse") {
      // In the replay's analysis panel; nothing else changes.
      replayView.analysisRefused(text);
      return;
    }
    clearTimeout(timers.challenge);
    state.challenging = null;
    if (msg.ref === "seek" || msg.ref === "unseek") state.seekSent = false;
    if (msg.ref === "leave") {
      // Refused (in a game): the session stays; so does the name.
      state.renamedFrom = null;
      guestBar.closeForm();
      showNotice(code === "not_available" ? "Finish or quit your game first." : text);
      return;
    }
    if (msg.ref === "seek" && code === "invalid_time_control") {
      // Beside the picker whose clock was refused.
      $("time-control-error").textContent = text;
      renderLobby();
      return;
    }

    if (!state.sessionOpen && code === "server_recovering" && msg.ref === "new_connection") {
      // Not a refusal of the name: the session opens once a server serves again (a cluster's
      // core taking over). Say hello again after a backoff wait, on the same socket.
      const wait = conn.helloLater();
      showNotice(wait === null ? text : recoveringText(wait));
      return;
    }
    if (!state.sessionOpen && (NAME_ERRORS.has(code) || (code === "invalid_field" && msg.ref === "new_connection"))) {
      nameRejected(text, code);
      return;
    }
    if (code === "server_shutdown") {
      state.serverRestarting = true; // a game lost with it was not counted: say so (settleAfterWelcome)
      // The server is going away: don't wait for it to close the socket, start the
      // reconnect loop (and its banner) now; backoff covers the restart time.
      conn.drop();
      return;
    }
    if (code === "already_connected") return; // a duplicate hello; the session is fine

    if (state.view === "game" && state.game) {
      state.game.awaiting = false;
      // Our own wording for the two rule errors, so local and server checks read the same.
      gameView.showMessage(text);
      return;
    }
    if (code === "no_invitation") {
      // The invitation we answered is gone (withdrawn meanwhile): stop offering it.
      state.incoming = state.incoming.filter((name) => !state.answering.has(name));
      state.answering.clear();
    } else if (msg.ref === "accept") {
      // Refused but still pending (too_many_games): offer the answer buttons again.
      state.answering.clear();
    }
    renderLobby();
    // Beside the control that sent it when there is one, else in the fixed notice.
    if (msg.ref === "challenge" && challenged) {
      if (state.challengeSource === "form" || !lobby.showRowError(challenged, text)) lobby.showChallengeError(text);
      return;
    }
    if (msg.ref === "accept" && answered && lobby.showInvitationError(answered, text)) return;
    showNotice(text);
  },
};

/** A rematch refused because the opponent declined the last offer a moment ago. */
function rematchCooldownText(opponent, detail) {
  const wait = secondsIn(detail);
  const who = opponent ?? "Your opponent";
  return wait ? `${who} declined your rematch: you can offer again in ${wait} s.` : `${who} declined your rematch a moment ago.`;
}

/** Why an invitation is off; `mine` says I sent it (to `by`) rather than received it. */
function cancelledText(reason, by, mine) {
  if (reason === "left") return `${by} left`;
  if (reason === "expired") return mine ? `Your challenge to ${by} expired` : `${by}'s challenge expired`;
  return `${by} cancelled the challenge`;
}

/** The first user_list after welcome tells whether we are back in a game or in the lobby. */
function settleAfterWelcome(myState) {
  const game = state.game;
  const restarted = state.serverRestarting === true;
  state.serverRestarting = false;
  if (game && !game.over) {
    if (myState !== "PLAYING") {
      // Give game_started a moment: if it doesn't come, the game ended while we were away.
      clearTimeout(timers.resume);
      timers.resume = setTimeout(() => {
        if (state.game === game && !game.over) {
          const result = restarted ? "restarted" : "unknown";
          game.over = { result, winner: null, reason: null, line: null };
          game.next = null;
          gameView.finish(game, state.me);
          // In the fixed notice too, as any result: whatever the scroll position.
          showNotice(dom.result.textContent);
          attention.flag(dom.result.textContent);
        }
      }, RESUME_GAME_WAIT_MS);
    }
    return;
  }
  if (state.view === "game") return; // a finished game's result is still on screen
  const toWatch = myState === "PLAYING" ? null : (state.pendingWatch ?? (state.watch && !state.watch.over ? state.watch.id : null));
  if (toWatch) {
    sendWatch(toWatch);
    return;
  }
  if (state.view === "watch") return; // a watched game's result is still on screen
  // A profile, a replay or the leaderboard needs no socket: a reconnect leaves the person reading it.
  if (PUBLIC_VIEWS.has(state.view) && myState !== "PLAYING") return;
  if (myState === "PLAYING") {
    // A resumed game: game_started follows; avoid flashing the lobby meanwhile.
    clearTimeout(timers.resume);
    timers.resume = setTimeout(() => enterLobby(), RESUME_GAME_WAIT_MS);
    return;
  }
  enterLobby();
}

function enterLobby() {
  go({ view: "lobby" });
  if (!state.me) {
    // Not joined (a copied profile address, say): the lobby starts with the first screen.
    if (state.wantedName) showView("loading");
    else {
      showView("name");
      entry.show({ tab: "guest" });
    }
    return;
  }
  const wasElsewhere = state.view !== "lobby";
  showView("lobby");
  renderLobby();
  // Focus was in a view that just disappeared; give it a sensible home.
  if (wasElsewhere) dom.lobbyTitle.focus({ preventScroll: true });
}

/** Close the session for good and forget it: the first screen comes next. */
function endSession() {
  conn.stop();
  rematch.apply({ type: "leave" }); // the session's result screen goes with it
  sharedGuest.forget();
  store.clear();
  clearTimeout(timers.resume);
  Object.assign(state, {
    me: null,
    renamedFrom: null,
    wantedName: null,
    sessionOpen: false,
    settling: false,
    users: new Map(),
    online: null,
    incoming: [],
    outgoing: null,
    challenging: null,
    seekSent: false,
    game: null,
    games: new Map(),
    gamesTotal: null,
    watch: null,
    pendingWatch: null,
  });
  state.answering.clear();
  lobby.renderInvitations([], null, state.answering); // the dock outlives the lobby view
  lobby.resetChallengeForm();
  gameView.reset();
  chatView.reset();
  drawControls.finish();
  dom.greeting.hidden = true;
  dom.greeting.textContent = "";
  showGuestBar();
}

/**
 * The server gave our session to another tab or device (which closed this socket): say
 * where it went, and offer it back ("Play as ann" takes it over from there in turn).
 */
function sessionTakenOver() {
  const name = state.me ?? state.wantedName ?? "";
  endSession();
  go({ view: "lobby" }, { replace: true }); // the first screen lives at /
  showView("name");
  if (account.signedIn) {
    state.takenOver = name;
    entry.showAccount(account.account, takenOverText(tabs.whereWent(name)));
  } else {
    entry.guestRefused(name, "You are playing in another tab or on another device.", "taken_over");
  }
}

/** The server refused our name (taken, registered, invalid, or an expired resume token). */
function nameRejected(text, code) {
  const previous = state.wantedName ?? "";
  endSession();
  go({ view: "lobby" }, { replace: true }); // the first screen lives at /
  showView("name");
  if (account.signedIn) {
    if (code === "name_registered") {
      // The server saw no session cookie: the sign-in expired, or ended in another tab.
      account.hide();
      entry.show({ tab: "signin", username: previous });
      showNotice("You are no longer signed in: please sign in again.");
    } else if (code === "name_taken") {
      entry.showAccount(account.account, `${text}: in another tab or browser? Leave there, then play here.`);
    } else {
      entry.showAccount(account.account, text);
    }
    return;
  }
  if (code === "account_mismatch") {
    // This browser signed in meanwhile (another tab): offer that account.
    api.me().then((reply) => {
      if (!reply.ok || !reply.data || state.view !== "name") return;
      account.show(reply.data);
      entry.showAccount(reply.data, text);
    });
  }
  entry.guestRefused(previous, text, code);
}

/** The welcome says this socket is an account's, but we never loaded it (e.g. /api/me failed at boot). */
async function refreshAccount() {
  const reply = await api.me();
  if (reply.ok && reply.data && state.sessionOpen) {
    account.show(reply.data);
    showView(state.view); // the account bar belongs to the current view now
  }
}

// --------------------------------------------------------------------------- joining

/**
 * A guest takes another name without a reload: `leave` ends the session on this socket and
 * `new_connection` (sent right behind it, handled in order) opens one under `name`. A
 * refusal comes back as for any join: the first screen, the error beside the name.
 */
function renameGuest(name) {
  state.renamedFrom = state.me;
  conn.send({ type: "leave" });
  state.wantedName = name;
  sharedGuest.forget();
  store.clear(); // a new name starts a new session: the old token is void
  conn.rejoin();
}

/** A guest leaves: the session ends (left_lobby), and with it the guest's record. */
function leaveLobby() {
  state.renamedFrom = null;
  conn.send({ type: "leave" });
}

function joinAsGuest(name) {
  state.wantedName = name;
  sharedGuest.forget();
  store.clear(); // a new name starts a new session: never resume someone else's token
  conn.stop();
  conn.start();
}

/** Signed in (or registered, or reloaded while signed in): join under the account's name. */
function joinAsAccount(data) {
  state.takenOver = null;
  account.show(data);
  // Resume only this account's own session (a reload); anything else starts afresh.
  if (store.name !== data.name) store.clear();
  state.wantedName = data.name;
  conn.stop();
  conn.start();
}

async function signOut() {
  const name = account.account?.name ?? state.me ?? "";
  // Close the socket first: signing out ends the lobby session with it.
  endSession();
  showView("loading", { loadingText: "Signing out…" });
  const reply = await api.logout();
  go({ view: "lobby" }, { replace: true }); // the first screen lives at /
  showView("name");
  if (!reply.ok) {
    const problem = commonProblem(reply) ?? errorText(reply.code);
    entry.showAccount(account.account ?? { name }, `Could not sign out: ${problem}`);
    return;
  }
  account.hide();
  entry.show({ tab: "signin", username: name });
  showNotice("You are signed out.");
}

// --------------------------------------------------------------------------- profiles

function openProfile(name) {
  go({ view: "profile", name });
  const shown = state.view === "profile" || state.view === "replay";
  showView("profile");
  // Back from a replay: the profile is still loaded.
  if (shown && profileView.name === name) profileView.focusTitle();
  else profileView.show(name);
}

function openReplay(gameId, options = {}) {
  go({ view: "replay", id: gameId });
  showView("replay");
  replayView.show(gameId, options);
}

function openLeaderboard() {
  go({ view: "leaderboard" });
  showView("leaderboard");
  leaderboardView.show();
}

/** "Back to profile": the page it came from, or the lobby for an address opened directly. */
function closeReplay() {
  if ((history.state?.depth ?? 0) > 0) history.back();
  else enterLobby();
}

// --------------------------------------------------------------------------- addresses

// One history entry per view shown (www/routes.js). `depth` counts this page's own entries,
// so "Back to profile" knows whether going back stays on the page.
const routing = { current: null, settled: false, silent: false };

/**
 * Record `route` as the address of what is on screen: a new history entry, except for the
 * first view after loading (reload keeps its address), a view shown by Back/Forward, or
 * the same view again.
 */
function go(route, { replace = false } = {}) {
  const depth = history.state?.depth ?? 0;
  const path = routePath(route);
  if (replace || routing.silent || !routing.settled || sameRoute(routing.current, route)) {
    history.replaceState({ route, depth }, "", path);
  } else {
    history.pushState({ route, depth: depth + 1 }, "", path);
  }
  routing.current = route;
  routing.settled = true;
  for (const link of document.querySelectorAll("a[data-route]")) {
    const here = link.getAttribute("href") === path;
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Show the view of `route` (from an address: a reload, Back/Forward, a link). */
function showRoute(route) {
  const watched = state.watch;
  if (watched && !(route.view === "game" && route.id === watched.id)) {
    // Back (or a link) away from a watched game stops watching it; Forward watches again.
    state.watch = null;
    if (!watched.over) conn.send({ type: "unwatch", game_id: watched.id });
  }
  const game = state.game;
  if (game && !game.over && !(route.view === "game" && route.id === game.id)) {
    // A game in progress keeps the screen: leaving it is Quit's job.
    go({ view: "game", id: game.id }, { replace: true });
    showView("game");
    showNotice("Your game is still on: finish it or quit first.");
    return;
  }
  if (route.view === "profile") openProfile(route.name);
  else if (route.view === "replay") openReplay(route.id);
  else if (route.view === "leaderboard") openLeaderboard();
  else if (route.view === "game" && game?.id === route.id) {
    go(route);
    showView("game");
  } else if (route.view === "game" && state.watch?.id === route.id) {
    go(route);
    showView("watch");
  } else if (route.view === "game" && state.sessionOpen) {
    startWatching(route.id);
  } else {
    if (route.view === "game") showNotice("That game is over: here is the lobby.");
    if (game?.over) backToLobby();
    else enterLobby();
  }
}

window.addEventListener("popstate", (event) => {
  const route = event.state?.route ?? parseRoute(location.pathname) ?? { view: "lobby" };
  routing.silent = true;
  try {
    showRoute(route);
  } finally {
    routing.silent = false;
  }
});

// The site's links move within the page: no reload, which would drop the socket for a moment.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const route = parseRoute(new URL(link.href).pathname);
  if (!route) return;
  event.preventDefault();
  showRoute(route);
});

// --------------------------------------------------------------------------- actions

function challenge(name, source = "row") {
  const control = timeControl.read();
  if (control === undefined) return; // a custom clock out of bounds: the picker says why
  state.challenging = name;
  state.challengeSource = source;
  lobby.showRowError(name, "");
  lobby.showChallengeError("");
  renderLobby();
  clearTimeout(timers.challenge);
  timers.challenge = setTimeout(() => {
    state.challenging = null;
    renderLobby();
  }, CHALLENGE_WAIT_MS);
  conn.send(control ? { type: "challenge", opponent: name, time_control: control } : { type: "challenge", opponent: name });
}

/**
 * Play anyone ("seek", on the picker's clock) or stop looking ("unseek"); my row's state
 * says what came of it.
 */
function sendSeek(type) {
  let message = { type };
  if (type === "seek") {
    const control = timeControl.read();
    if (control === undefined) return; // a custom clock out of bounds: the picker says why
    if (control) message = { type, time_control: control };
  }
  state.seekSent = true;
  renderLobby();
  conn.send(message);
}

function accept(from) {
  state.answering.add(from);
  renderLobby();
  conn.send({ type: "accept", challenger: from });
}

function decline(from) {
  state.incoming = state.incoming.filter((name) => name !== from);
  renderLobby();
  conn.send({ type: "decline", challenger: from });
}

function cancelChallenge(to) {
  state.outgoing = null;
  renderLobby();
  conn.send({ type: "cancel", opponent: to });
}

/** Check the move locally first: the reply would only be an error round trip. */
function tryMove(col) {
  const game = state.game;
  if (!game) return;
  if (game.over) {
    gameView.showMessage("The game is over");
    return;
  }
  if (game.next !== state.me || game.awaiting) {
    gameView.showMessage("Not your turn");
    return;
  }
  if (dropRow(game.board, col) < 0) {
    gameView.showMessage("Column full");
    return;
  }
  if (!state.sessionOpen) {
    // Kept and sent once the connection is back (the Connection queues it); say so.
    gameView.showMessage("You are offline: this move will be sent when the connection is back.");
  } else gameView.clearMessage();
  game.awaiting = true; // blocks a double click from sending two moves
  // The ply it was decided at: if the connection drops and the move is sent again (the
  // Connection queues it), the server plays it once at most (stale_move otherwise).
  conn.send({ type: "move", game_id: game.id, column: col, ply: game.moves.length });
}

function quitGame() {
  const game = state.game;
  if (game && !game.over) conn.send({ type: "quit", game_id: game.id });
}

function offerDraw() {
  const game = state.game;
  if (game && !game.over) conn.send({ type: "offer_draw", game_id: game.id });
}

function answerDraw(accept) {
  const game = state.game;
  if (game && !game.over) conn.send({ type: "answer_draw", game_id: game.id, accept });
}

function abortGame() {
  const game = state.game;
  if (game && !game.over) conn.send({ type: "abort", game_id: game.id });
}

function sendChat(text) {
  const game = state.game;
  if (game) conn.send({ type: "chat", game_id: game.id, text });
}

/** Watch game `gameId` (a Watch button, or its address): the view opens on `watching`. */
function startWatching(gameId) {
  if (state.watch && state.watch.id !== gameId && !state.watch.over) {
    conn.send({ type: "unwatch", game_id: state.watch.id }); // the page watches one game at a time
  }
  sendWatch(gameId);
}

function sendWatch(gameId) {
  state.pendingWatch = gameId;
  conn.send({ type: "watch", game_id: gameId });
}

/** "Stop watching" / "Back to lobby" in the watch view. */
function stopWatching() {
  const watched = state.watch;
  state.watch = null;
  if (watched && !watched.over) conn.send({ type: "unwatch", game_id: watched.id });
  enterLobby();
}

function backToLobby() {
  leaveResult();
  state.game = null;
  gameView.reset();
  chatView.reset();
  drawControls.finish();
  enterLobby();
}

// --------------------------------------------------------------------------- boot

async function boot() {
  showView("loading");
  // A profile, replay or leaderboard address opens at once, joined or not.
  const initial = parseRoute(location.pathname) ?? { view: "lobby" };
  routing.current = initial;
  if (PUBLIC_VIEWS.has(initial.view)) showRoute(initial);
  // A game's address: our own game comes back with the session; anyone else's is watched.
  if (initial.view === "game") state.pendingWatch = initial.id;
  // Signed in (the cookie is HttpOnly, so only the server can tell): skip the first screen.
  const me = await api.me();
  if (me.ok && typeof me.data?.name === "string") {
    joinAsAccount(me.data);
    return;
  }
  // A new tab after the last one closed (within its grace period) takes it back too.
  const shared = store.name ? null : sharedGuest.takeable();
  if (shared) store.save(shared.name, shared.token);
  const saved = store.name;
  if (saved && NAME_RE.test(saved)) {
    // Reload or new visit in the same tab: take the session back without asking.
    state.wantedName = saved;
    conn.start();
  } else {
    store.clear();
    if (PUBLIC_VIEWS.has(state.view)) return; // the first screen waits for the lobby
    go({ view: "lobby" });
    showView("name");
    entry.show({ tab: "guest" });
  }
}

// The held guest session stays takeable while this tab lives, and for the grace period
// after it closes.
setInterval(() => sharedGuest.touch(), HEARTBEAT_MS);
window.addEventListener("pagehide", () => sharedGuest.touch({ closed: true }));
window.addEventListener("pageshow", (event) => {
  if (event.persisted) sharedGuest.touch();
});

boot();
