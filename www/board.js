// The 6x7 board: DOM built once, then updated in place on every position so
// focus, hover and the running drop animation survive updates. BoardGrid only
// draws (the replay uses it); BoardView adds the drop buttons and the keyboard.

export const ROWS = 6;
export const COLS = 7;

export function emptyBoard() {
  return Array.from({ length: ROWS }, () => ".".repeat(COLS));
}

/** Lowest empty row of `col` (row 0 is the top), or -1 when the column is full. */
export function dropRow(board, col) {
  for (let r = ROWS - 1; r >= 0; r -= 1) {
    if (board[r][col] === ".") return r;
  }
  return -1;
}

/**
 * The position after the first `count` of `moves` (player 1 opens), in the protocol's
 * notation, with the cell of the latest move. `error` names the first impossible move
 * (a column outside 0..6 or a full one); the position stops before it.
 */
export function positionAfter(moves, count) {
  const rows = Array.from({ length: ROWS }, () => Array(COLS).fill("."));
  let lastMove = null;
  for (let i = 0; i < count; i += 1) {
    const col = moves[i];
    const row = Number.isInteger(col) && col >= 0 && col < COLS ? dropRow(rows, col) : -1;
    if (row < 0) return { board: rows.map((r) => r.join("")), lastMove, error: `move ${i + 1}` };
    rows[row][col] = i % 2 === 0 ? "1" : "2";
    lastMove = { row, column: col };
  }
  return { board: rows.map((r) => r.join("")), lastMove, error: null };
}

const DIRECTIONS = [
  [0, 1],
  [1, 0],
  [1, 1],
  [1, -1],
];

/** Every cell that is part of four (or more) same tokens in a line, as [row, col] pairs. */
export function findFours(board) {
  const found = new Map();
  for (let r = 0; r < ROWS; r += 1) {
    for (let c = 0; c < COLS; c += 1) {
      const ch = board[r]?.[c];
      if (ch !== "1" && ch !== "2") continue;
      for (const [dr, dc] of DIRECTIONS) {
        const cells = [];
        for (let k = 0; k < 4; k += 1) {
          const rr = r + dr * k;
          const cc = c + dc * k;
          if (rr < 0 || rr >= ROWS || cc < 0 || cc >= COLS || board[rr][cc] !== ch) break;
          cells.push([rr, cc]);
        }
        if (cells.length === 4) for (const cell of cells) found.set(cell.join(","), cell);
      }
    }
  }
  return [...found.values()];
}

/** A board that only draws positions: cells labelled by owner, no input. */
export class BoardGrid {
  /**
   * @param {HTMLElement} boardEl the container (role "grid" or "table", set in the HTML)
   * @param {{idPrefix?: string, cellRole?: string}} options cell ids are `${idPrefix}-r-c`
   */
  constructor(boardEl, { idPrefix = "cell", cellRole = "gridcell" } = {}) {
    this.el = boardEl;
    this.cells = []; // [row][col] -> cell element
    this.tokens = [];
    this.board = emptyBoard();
    this.labels = { 1: "player 1's token", 2: "player 2's token" };
    for (let r = 0; r < ROWS; r += 1) {
      const rowEl = document.createElement("div");
      rowEl.className = "board-row";
      rowEl.setAttribute("role", "row");
      const cellRow = [];
      const tokenRow = [];
      for (let c = 0; c < COLS; c += 1) {
        const cell = document.createElement("div");
        cell.className = "cell";
        cell.id = `${idPrefix}-${r}-${c}`;
        cell.setAttribute("role", cellRole);
        cell.dataset.row = String(r);
        cell.dataset.col = String(c);
        const token = document.createElement("span");
        token.className = "token";
        token.setAttribute("aria-hidden", "true");
        cell.append(token);
        rowEl.append(cell);
        cellRow.push(cell);
        tokenRow.push(token);
      }
      this.el.append(rowEl);
      this.cells.push(cellRow);
      this.tokens.push(tokenRow);
    }
  }

  /** How cells holding player 1's and player 2's tokens are read out. */
  setLabels(label1, label2) {
    this.labels = { 1: label1, 2: label2 };
  }

  /**
   * Draw a position.
   * @param {string[]} board 6 strings of 7 chars, top row first
   * @param {{row:number,column:number}|null} lastMove
   * @param {number[][]|null} line winning four as [row, col] pairs
   * @param {boolean} animate drop the last-move token in
   */
  render(board, lastMove = null, line = null, animate = false) {
    this.board = board;
    const wins = new Set((line || []).map(([r, c]) => `${r},${c}`));
    for (let r = 0; r < ROWS; r += 1) {
      for (let c = 0; c < COLS; c += 1) {
        const ch = board[r]?.[c] ?? ".";
        const cell = this.cells[r][c];
        const token = this.tokens[r][c];
        const owner = ch === "1" ? 1 : ch === "2" ? 2 : 0;
        token.classList.toggle("p1", owner === 1);
        token.classList.toggle("p2", owner === 2);
        const isLast = !!lastMove && lastMove.row === r && lastMove.column === c;
        cell.classList.toggle("last", isLast);
        cell.classList.toggle("win", wins.has(`${r},${c}`));
        cell.classList.toggle("filled", owner !== 0);
        const who = owner === 0 ? "empty" : this.labels[owner];
        cell.setAttribute("aria-label", `Row ${r + 1}, column ${c + 1}: ${who}${isLast ? ", last move" : ""}`);
        if (!isLast || !animate) token.classList.remove("drop");
      }
    }
    this.el.classList.toggle("has-win", wins.size > 0);

    if (animate && lastMove) {
      const token = this.tokens[lastMove.row][lastMove.column];
      // Fall distance in cells, read by the CSS keyframes.
      token.style.setProperty("--drop", String(lastMove.row + 1));
      token.classList.remove("drop");
      void token.offsetWidth; // restart the animation if the class was already there
      token.classList.add("drop");
    }
  }
}

/** The live game's board: drop buttons above it, pointer and keyboard play. */
export class BoardView extends BoardGrid {
  /**
   * @param {HTMLElement} boardEl  the role="grid" element (focusable)
   * @param {HTMLElement} columnsEl the row of per-column drop buttons above it
   * @param {{onPlay: (col: number) => void}} handlers
   */
  constructor(boardEl, columnsEl, { onPlay }) {
    super(boardEl);
    this.columnsEl = columnsEl;
    this.onPlay = onPlay;
    this.colButtons = [];
    this.cursor = 3; // start in the centre, the strongest opening column
    this.interactive = false;
    this.buildColumns();
    this.bindEvents();
  }

  buildColumns() {
    for (let c = 0; c < COLS; c += 1) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "col-btn";
      btn.dataset.col = String(c);
      // Kept out of the tab order: the board itself is the single keyboard stop.
      btn.tabIndex = -1;
      btn.setAttribute("aria-label", `Drop in column ${c + 1}`);
      const ghost = document.createElement("span");
      ghost.className = "ghost";
      ghost.setAttribute("aria-hidden", "true");
      btn.append(ghost);
      this.columnsEl.append(btn);
      this.colButtons.push(btn);
    }
  }

  bindEvents() {
    const colOf = (target) => {
      const hit = target.closest("[data-col]");
      return hit ? Number(hit.dataset.col) : null;
    };
    const click = (event) => {
      const col = colOf(event.target);
      if (col === null) return;
      this.setCursor(col);
      // Keep keyboard control on the board after a mouse click on a drop button.
      if (event.currentTarget === this.columnsEl) this.el.focus({ preventScroll: true });
      this.onPlay(col);
    };
    this.el.addEventListener("click", click);
    this.columnsEl.addEventListener("click", click);

    // Pointer hover moves the same cursor the keyboard uses, so there is one highlight.
    const hover = (event) => {
      const col = colOf(event.target);
      if (col !== null) this.setCursor(col);
    };
    this.el.addEventListener("pointerover", hover);
    this.columnsEl.addEventListener("pointerover", hover);

    this.el.addEventListener("keydown", (event) => this.onKey(event));
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    let handled = true;
    switch (event.key) {
      case "ArrowLeft":
        this.setCursor(Math.max(0, this.cursor - 1));
        break;
      case "ArrowRight":
        this.setCursor(Math.min(COLS - 1, this.cursor + 1));
        break;
      case "Home":
        this.setCursor(0);
        break;
      case "End":
        this.setCursor(COLS - 1);
        break;
      case "Enter":
      case " ":
      case "Spacebar":
        this.onPlay(this.cursor);
        break;
      default:
        // Digits 1-7 drop straight into that column: fast for experienced players.
        if (/^[1-7]$/.test(event.key)) {
          this.setCursor(Number(event.key) - 1);
          this.onPlay(this.cursor);
        } else {
          handled = false;
        }
    }
    // Space would otherwise scroll the page; arrows would scroll on small screens.
    if (handled) event.preventDefault();
  }

  setCursor(col) {
    this.cursor = col;
    for (let c = 0; c < COLS; c += 1) {
      const on = c === col;
      this.colButtons[c].classList.toggle("cursor", on);
      for (let r = 0; r < ROWS; r += 1) this.cells[r][c].classList.toggle("cursor", on);
    }
    // Screen readers follow aria-activedescendant: point at where the token would land.
    const r = dropRow(this.board, col);
    this.el.setAttribute("aria-activedescendant", this.cells[r < 0 ? 0 : r][col].id);
  }

  /** Label cells by whose token they hold, for assistive technology. */
  setPlayers({ you, youLabel, oppLabel }) {
    if (you === 1) this.setLabels(youLabel, oppLabel);
    else this.setLabels(oppLabel, youLabel);
  }

  /** Whether it is the local player's turn (drives the ghost token and cursor style). */
  setInteractive(on) {
    this.interactive = on;
    this.el.classList.toggle("my-turn", on);
    this.columnsEl.classList.toggle("my-turn", on);
  }

  /** Draw a position (see BoardGrid.render), then the drop buttons and the cursor. */
  render(board, lastMove = null, line = null, animate = false) {
    super.render(board, lastMove, line, animate);
    for (let c = 0; c < COLS; c += 1) {
      const full = board[0]?.[c] !== ".";
      this.colButtons[c].classList.toggle("full", full);
      this.colButtons[c].setAttribute("aria-label", `Drop in column ${c + 1}${full ? " (full)" : ""}`);
    }
    this.setCursor(this.cursor);
  }

  reset() {
    this.cursor = 3;
    this.render(emptyBoard());
  }

  focus() {
    this.el.focus({ preventScroll: false });
  }
}
