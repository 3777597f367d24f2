// Draw offers and the abort button of the game view.
//
// The server decides (game_state.py): one pending offer at most, a player's next offer
// only a few moves later, an offer lapsing when the player it was made to moves, abort
// only until both players have moved. The page shows what the server said and offers
// the buttons that can still work; a refusal comes back as an error shown by app.js.

export class DrawControls {
  constructor(dom, { onOffer, onAnswer, onAbort }) {
    this.dom = dom;
    this.offerBy = null; // who has an offer pending: a name, or null
    dom.offer.addEventListener("click", () => onOffer());
    dom.abort.addEventListener("click", () => onAbort());
    dom.accept.addEventListener("click", () => onAnswer(true));
    dom.decline.addEventListener("click", () => onAnswer(false));
  }

  /** A new (or resumed) game: no offer known, the buttons for a game in progress. */
  start(moves) {
    this.clearOffer();
    this.dom.offer.hidden = false;
    this.update(moves);
  }

  /** After each position: abort only until both players have moved. */
  update(moves) {
    this.dom.abort.hidden = moves >= 2;
  }

  /** draw_offered: ``by`` is me (my offer stands) or the opponent (answer it). */
  offered(by, me) {
    this.offerBy = by;
    const mine = by === me;
    this.dom.bar.hidden = false;
    this.dom.text.textContent = mine ? "You offered a draw." : `${by} offers a draw.`;
    this.dom.accept.hidden = mine;
    this.dom.decline.hidden = mine;
    if (!mine) this.dom.accept.focus({ preventScroll: true });
  }

  /** draw_declined: say so to the offerer; the one who declined just sees the bar go. */
  declined(by, me) {
    this.clearOffer();
    if (by !== me) {
      this.dom.bar.hidden = false;
      this.dom.text.textContent = `${by} declined your draw offer.`;
      this.dom.accept.hidden = true;
      this.dom.decline.hidden = true;
    }
  }

  /** A move by ``mover``: the offer made to them lapses (their move is their answer). */
  moved(mover) {
    if (this.offerBy !== null && this.offerBy !== mover) this.clearOffer();
    else if (this.offerBy === null) this.hideBar();
  }

  clearOffer() {
    this.offerBy = null;
    this.hideBar();
  }

  hideBar() {
    this.dom.bar.hidden = true;
    this.dom.text.textContent = "";
  }

  /** The game is over (or left): nothing to offer or abort. */
  finish() {
    this.clearOffer();
    this.dom.offer.hidden = true;
    this.dom.abort.hidden = true;
  }
}
