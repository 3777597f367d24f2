// The tab's title as a signal: while the tab is hidden, news that needs the person
// ("Your turn", "Invitation from Bob") is put in the title, and the title is restored when
// the tab is seen again. The optional sound is left out on purpose: a title is silent
// and needs no on/off switch.

/** The title shown for `news` over the page's own title. Pure. */
export function attentionTitle(base, news) {
  return news ? `${news} — ${base}` : base;
}

export class Attention {
  /** @param {Document} doc */
  constructor(doc) {
    this.doc = doc;
    this.base = doc.title;
    doc.addEventListener("visibilitychange", () => {
      if (!doc.hidden) this.clear();
    });
  }

  /** Put `news` in the title if the tab is hidden; a visible tab shows it on the page already. */
  flag(news) {
    if (this.doc.hidden) this.doc.title = attentionTitle(this.base, news);
  }

  clear() {
    this.doc.title = this.base;
  }
}
