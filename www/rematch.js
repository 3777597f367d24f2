// The result screen's rematch: the "Rematch" button, the offer bar (Accept / Decline) and
// what they say.
//
// The server decides (c4actors/lobby_state.py): who is still on the result screen, one
// offer per finished game, crossing offers starting one game, the limits. This module keeps
// what the server said about the game on screen, as a pure reducer (`rematchStep`) and the
// view it implies (`rematchView`), both tested with node --test; `RematchControls` only
// draws that view. Names go in with textContent.

/** Nothing to show: no finished game on screen, or its result screen was left. */
export const NO_REMATCH = Object.freeze({ status: "off", gameId: null, opponent: null, sending: false });

/** Statuses whose text is news the person should hear (the notice, a live region). */
const NEWS = new Set(["incoming", "declined", "expired", "gone"]);

/**
 * The rematch state after `event`: a server message of the game on screen (`rematch_offered`,
 * `rematch_declined`, `rematch_cancelled`, an `error` answering `rematch` or
 * `answer_rematch`), or the page's own: `game_over` (with `opponent`), `user_list` (the
 * lobby has the result: offers may go), `sent` (a request is on its way), `leave`.
 */
export function rematchStep(state, event, me) {
  switch (event.type) {
    case "game_over":
      return { status: "waiting", gameId: event.game_id, opponent: event.opponent, sending: false };
    case "leave":
      return NO_REMATCH;
    case "user_list":
      // After game_over the lobby sends a snapshot once it has the result: from then on
      // it takes an offer (before, it would not know the game had ended).
      return state.status === "waiting" ? { ...state, status: "ready" } : state;
    default:
      break;
  }
  if (state.status === "off") return state;
  if (event.type === "sent") return { ...state, sending: true };
  if (event.type === "error") {
    if (event.code === "opponent_left") return { ...state, status: "gone", sending: false };
    if (event.code === "no_rematch_offer") return { ...state, status: "ready", sending: false };
    return { ...state, sending: false }; // refused (a limit): what stood still stands
  }
  if (event.game_id !== state.gameId) return state;
  switch (event.type) {
    case "rematch_offered":
      return { ...state, status: event.by === me ? "offered" : "incoming", sending: false };
    case "rematch_declined":
      return { ...state, status: event.by === me ? "ready" : "declined", sending: false };
    case "rematch_cancelled":
      return { ...state, status: event.reason === "left" ? "gone" : "expired", sending: false };
    default:
      return state;
  }
}

/**
 * What the result screen shows for `state`: the Rematch button (`button`: "hidden",
 * "disabled" or "enabled"), and the offer bar's text (null: no bar) with whether it
 * offers Accept / Decline (`answer`).
 */
export function rematchView(state) {
  const opp = state.opponent ?? "Your opponent";
  const enabled = state.sending ? "disabled" : "enabled";
  switch (state.status) {
    case "waiting":
      return { button: "disabled", text: null, answer: false };
    case "ready":
      return { button: enabled, text: null, answer: false };
    case "offered":
      return { button: "hidden", text: `You offered ${opp} a rematch: waiting for the answer.`, answer: false };
    case "incoming":
      return { button: "hidden", text: `${opp} offers a rematch.`, answer: !state.sending };
    case "declined":
      return { button: enabled, text: `${opp} declined the rematch.`, answer: false };
    case "expired":
      return { button: enabled, text: "The rematch offer expired.", answer: false };
    case "gone":
      return { button: "hidden", text: `${opp} has left: no rematch (challenge them from the lobby).`, answer: false };
    default:
      return { button: "hidden", text: null, answer: false };
  }
}

/** The text to announce when `before` became `after`, or null (nothing new to hear). */
export function rematchNews(before, after) {
  if (after.status === before.status || !NEWS.has(after.status)) return null;
  return rematchView(after).text;
}

export class RematchControls {
  constructor(dom, { onOffer, onAnswer, onNews }) {
    this.dom = dom;
    this.state = NO_REMATCH;
    this.me = null;
    this.onNews = onNews;
    dom.button.addEventListener("click", () => {
      if (this.state.status === "off") return;
      this.apply({ type: "sent" });
      onOffer(this.state.gameId);
    });
    dom.accept.addEventListener("click", () => {
      this.apply({ type: "sent" });
      onAnswer(this.state.gameId, true);
    });
    dom.decline.addEventListener("click", () => {
      this.apply({ type: "sent" });
      onAnswer(this.state.gameId, false);
    });
    this.render();
  }

  get gameId() {
    return this.state.gameId;
  }

  /** Feed one event (see `rematchStep`) and redraw; news is announced, an offer focused. */
  apply(event, me = this.me) {
    this.me = me;
    const before = this.state;
    this.state = rematchStep(before, event, me);
    if (this.state === before) return;
    this.render();
    const news = rematchNews(before, this.state);
    if (news) this.onNews(news, this.state.status === "incoming");
  }

  render() {
    const { dom } = this;
    const view = rematchView(this.state);
    dom.button.hidden = view.button === "hidden";
    dom.button.disabled = view.button === "disabled";
    dom.bar.hidden = view.text === null;
    dom.text.textContent = view.text ?? "";
    dom.accept.hidden = !view.answer;
    dom.decline.hidden = !view.answer;
  }

  /** Accept takes the focus (one key press to play again), unless the person is typing. */
  focusAccept() {
    if (!this.dom.accept.hidden) this.dom.accept.focus({ preventScroll: true });
  }
}
