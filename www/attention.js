// The tab's title as a signal: while the tab is hidden, news that needs the person
// ("Your turn", "Invitation from Bob") is put in the title, and the title is restored when
// the tab is seen again. A short sound may go with it: off by default, turned on with a
// visible toggle (sound.js keeps the choice).

/** The title shown for `news` over the page's own title. Pure. */
export function attentionTitle(base, news) {
  return news ? `${news} — ${base}` : base;
}

export class Attention {
  /**
   * @param {Document} doc
   * @param {{sound?: () => void}} options `sound` plays the alert's tone (when it is on)
   */
  constructor(doc, { sound = () => {} } = {}) {
    this.doc = doc;
    this.base = doc.title;
    this.sound = sound;
    doc.addEventListener("visibilitychange", () => {
      if (!doc.hidden) this.clear();
    });
  }

  /** Put `news` in the title if the tab is hidden, with the sound; a visible tab shows it on the page already. */
  flag(news) {
    if (!this.doc.hidden) return;
    this.doc.title = attentionTitle(this.base, news);
    this.sound();
  }

  clear() {
    this.doc.title = this.base;
  }
}
