// The perfect-play analysis of a game, shown in the replay view: for the move on the
// board, the verdict before it, the best moves and its grade; a chart of the verdict
// over the game (plain SVG, player 1's view: up is good for player 1); and a button to
// the move where the game was lost. Every text goes in through textContent.

const SVG = "http://www.w3.org/2000/svg";

const GRADE_WORDS = {
  best: "Best move",
  inaccuracy: "Inaccuracy",
  mistake: "Mistake",
  blunder: "Blunder",
};

/** "wins in 7", "draws", "loses in 12" — a verdict for the player named. */
export function verdictText(verdict) {
  if (!verdict) return "";
  const plies = Number(verdict.plies);
  const moves = Number.isFinite(plies) ? Math.ceil(plies / 2) : null;
  const within = moves === null ? "" : ` in ${moves} move${moves === 1 ? "" : "s"}`;
  if (verdict.outcome === "win") return `wins${within}`;
  if (verdict.outcome === "loss") return `loses${within}`;
  return "draws";
}

/** The grade in words. */
export function gradeText(grade) {
  return GRADE_WORDS[grade] ?? "";
}

/** One note as sentences: who moved, the verdict before, the best columns (counted from 1). */
export function noteLines(note, mover) {
  const best = (note.best ?? []).map((column) => column + 1).join(", ");
  return {
    grade: gradeText(note.grade),
    before: `Before this move, with perfect play ${mover} ${verdictText(note.before)}.`,
    best: `Best: column${(note.best ?? []).length === 1 ? "" : "s"} ${best}.`,
    after: `After it, ${mover} ${verdictText(note.after)}.`,
  };
}

/**
 * The chart's values: for each position (0 = the empty board), +1 when player 1 wins with
 * perfect play, 0 for a draw, -1 when player 1 loses.
 */
export function chartValues(notes) {
  const sign = { win: 1, draw: 0, loss: -1 };
  const values = [];
  for (const note of notes) {
    const forMover = sign[note.before?.outcome] ?? 0;
    values.push((note.ply % 2 === 1 ? forMover : -forMover) || 0);
  }
  const last = notes[notes.length - 1];
  if (last) {
    const forMover = sign[last.after?.outcome] ?? 0;
    values.push((last.ply % 2 === 1 ? forMover : -forMover) || 0);
  }
  return values;
}

/** The chart as SVG points ("x,y ...") in a `width` x `height` box. */
export function chartPoints(values, width, height) {
  if (values.length === 0) return "";
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const y = (value) => (height / 2) * (1 - value * 0.8);
  return values.map((value, i) => `${Math.round(i * step * 10) / 10},${Math.round(y(value) * 10) / 10}`).join(" ");
}

/** The analysis panel's elements (index.html, #analysis). */
export function findAnalysisDom() {
  const byId = (id) => document.getElementById(id);
  return {
    root: byId("analysis"),
    request: byId("analysis-request"),
    status: byId("analysis-status"),
    progress: byId("analysis-progress"),
    body: byId("analysis-body"),
    chart: byId("analysis-chart"),
    grade: byId("analysis-grade"),
    before: byId("analysis-before"),
    best: byId("analysis-best"),
    after: byId("analysis-after"),
    lost: byId("analysis-lost"),
  };
}

export class AnalysisPanel {
  /**
   * @param {object} dom see findAnalysisDom
   * @param {{onRequest: () => void, onGo: (count: number) => void}} handlers
   */
  constructor(dom, { onRequest, onGo }) {
    this.dom = dom;
    this.onGo = onGo;
    this.analysis = null;
    this.names = ["", ""];
    dom.request.addEventListener("click", () => onRequest());
    dom.lost.addEventListener("click", () => {
      if (this.analysis?.lost_at) onGo(this.analysis.lost_at);
    });
  }

  /** A new game in the replay: nothing known yet. */
  reset(player1, player2) {
    const { dom } = this;
    this.analysis = null;
    this.names = [player1, player2];
    dom.root.hidden = false;
    dom.body.hidden = true;
    dom.request.hidden = true;
    dom.request.disabled = false;
    dom.progress.hidden = true;
    dom.lost.hidden = true;
    this.setStatus("");
  }

  /** Not analysed yet: offer the button (`canAsk`: a session is open to ask through). */
  offer(canAsk) {
    const { dom } = this;
    dom.request.hidden = false;
    dom.request.disabled = !canAsk;
    this.setStatus(canAsk ? "This game has not been analysed yet." : "Join the lobby to ask for this game's analysis.");
  }

  /** Asked: waiting for the first progress. */
  asked() {
    this.dom.request.disabled = true;
    this.setStatus("Analysing…");
  }

  progress(done, total) {
    const { dom } = this;
    dom.request.hidden = true;
    dom.progress.hidden = false;
    dom.progress.max = Math.max(1, total);
    dom.progress.value = done;
    this.setStatus(`Analysing… ${done} of ${total} moves`);
  }

  failed(text) {
    const { dom } = this;
    dom.progress.hidden = true;
    dom.request.hidden = false;
    dom.request.disabled = false;
    this.setStatus(text, true);
  }

  /** The analysis arrived (or was stored): draw the chart, then follow the board. */
  show(analysis, at) {
    const { dom } = this;
    this.analysis = analysis;
    dom.request.hidden = true;
    dom.progress.hidden = true;
    dom.body.hidden = false;
    this.setStatus("");
    const lostAt = analysis.lost_at;
    dom.lost.hidden = !lostAt;
    if (lostAt) {
      const loser = this.names[lostAt % 2 === 1 ? 0 : 1];
      dom.lost.textContent = `Where ${loser} lost it: move ${lostAt}`;
    }
    this.drawChart();
    this.at(at);
  }

  /** The board shows the position after `count` moves: annotate the move that made it. */
  at(count) {
    const { dom, analysis } = this;
    if (!analysis) return;
    const note = analysis.moves[count - 1];
    this.marker?.setAttribute("cx", String(this.xOf(count)));
    if (!note) {
      dom.grade.textContent = "";
      dom.grade.removeAttribute("data-grade");
      const first = analysis.moves[0];
      dom.before.textContent = first ? `With perfect play ${this.names[0]} ${verdictText(first.before)}.` : "";
      dom.best.textContent = first ? noteLines(first, this.names[0]).best : "";
      dom.after.textContent = "";
      return;
    }
    const mover = this.names[note.ply % 2 === 1 ? 0 : 1];
    const lines = noteLines(note, mover);
    dom.grade.textContent = `Move ${note.ply}: ${lines.grade}${note.ply === analysis.lost_at ? " — the game was lost here" : ""}`;
    dom.grade.dataset.grade = note.grade;
    dom.before.textContent = lines.before;
    dom.best.textContent = lines.best;
    dom.after.textContent = lines.after;
  }

  xOf(count) {
    const total = this.analysis ? this.analysis.moves.length : 0;
    return total > 0 ? Math.round((count / total) * this.width * 10) / 10 : 0;
  }

  drawChart() {
    const { chart } = this.dom;
    const values = chartValues(this.analysis.moves);
    this.width = 300;
    const height = 80;
    chart.replaceChildren();
    chart.setAttribute("viewBox", `0 0 ${this.width} ${height}`);
    const axis = document.createElementNS(SVG, "line");
    for (const [key, value] of [["x1", 0], ["y1", height / 2], ["x2", this.width], ["y2", height / 2]]) {
      axis.setAttribute(key, String(value));
    }
    axis.setAttribute("class", "analysis-axis");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", chartPoints(values, this.width, height));
    line.setAttribute("class", "analysis-line");
    const lostAt = this.analysis.lost_at;
    chart.append(axis, line);
    if (lostAt) {
      const mark = document.createElementNS(SVG, "line");
      const x = String(this.xOf(lostAt));
      for (const [key, value] of [["x1", x], ["y1", "0"], ["x2", x], ["y2", String(height)]]) mark.setAttribute(key, value);
      mark.setAttribute("class", "analysis-lost-mark");
      chart.append(mark);
    }
    this.marker = document.createElementNS(SVG, "circle");
    this.marker.setAttribute("r", "4");
    this.marker.setAttribute("cy", String(height / 2));
    this.marker.setAttribute("class", "analysis-marker");
    chart.append(this.marker);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `The verdict over the game for ${this.names[0]}: up wins, middle draws, down loses`;
    chart.prepend(title);
  }

  setStatus(text, isError = false) {
    const { status } = this.dom;
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("form-error", isError);
  }
}
