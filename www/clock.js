// Time controls in the page: the picker used by every challenge, the short name of a
// clock ("3+2"), and the two ticking clocks of a timed game. The presets and bounds come
// from the server (GET /api/config, time_controls), never a copy of them.
// The server keeps the real clocks: the page only counts down locally from the last
// game_state (its `clocks`, received at a known moment), so it needs no clock sync.

import { CONFIG } from "./config.js";

/** Under this many seconds a clock is shown as low (red, tenths of a second). */
export const LOW_SECONDS = 10;

/** "1+0", "3+2", or "0:05+0" for a base that is not whole minutes. */
export function controlName(control) {
  if (!control) return "untimed";
  const base = Number(control.base_seconds) || 0;
  const increment = Number(control.increment_seconds) || 0;
  const minutes = Math.floor(base / 60);
  const seconds = base - minutes * 60;
  const head = seconds === 0 ? String(minutes) : `${minutes}:${String(Math.round(seconds)).padStart(2, "0")}`;
  return `${head}+${increment}`;
}

/** A remaining time as a clock shows it: "4:05", or "7.3" under LOW_SECONDS. */
export function formatClock(seconds) {
  const left = Math.max(0, seconds);
  if (left < LOW_SECONDS) return left.toFixed(1);
  const whole = Math.ceil(left);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/**
 * The time-control picker of the lobby (#time-control): Untimed, the server's presets, or
 * Custom (base in minutes, increment in seconds, within the server's bounds).
 */
export class TimeControlPicker {
  constructor({ select, custom, base, increment, error }) {
    this.dom = { select, custom, base, increment, error };
    const rules = CONFIG.time_controls;
    this.rules = rules;
    for (const [index, preset] of rules.presets.entries()) {
      const option = document.createElement("option");
      option.value = `preset:${index}`;
      option.textContent = controlName(preset);
      select.append(option);
    }
    const custom_ = document.createElement("option");
    custom_.value = "custom";
    custom_.textContent = "Custom…";
    select.append(custom_);
    base.min = String(rules.min_base_seconds / 60);
    base.max = String(rules.max_base_seconds / 60);
    increment.max = String(rules.max_increment_seconds);
    select.addEventListener("change", () => this.showCustom());
    this.showCustom();
  }

  showCustom() {
    this.dom.custom.hidden = this.dom.select.value !== "custom";
    this.dom.error.textContent = "";
  }

  /** The chosen time control (null: untimed); throws an Error whose message says what is
   * wrong with a custom one. */
  value() {
    const { select, base, increment } = this.dom;
    if (select.value === "untimed") return null;
    if (select.value.startsWith("preset:")) {
      const preset = this.rules.presets[Number(select.value.slice(7))];
      return { base_seconds: preset.base_seconds, increment_seconds: preset.increment_seconds };
    }
    const baseSeconds = Math.round(Number(base.value) * 60 * 1000) / 1000;
    const inc = Number(increment.value || 0);
    const { min_base_seconds: low, max_base_seconds: high, max_increment_seconds: most } = this.rules;
    if (!base.value || !Number.isFinite(baseSeconds) || baseSeconds < low || baseSeconds > high) {
      throw new Error(`The base time must be ${low / 60} to ${high / 60} minutes.`);
    }
    if (!Number.isFinite(inc) || inc < 0 || inc > most) {
      throw new Error(`The increment must be 0 to ${most} seconds.`);
    }
    return { base_seconds: baseSeconds, increment_seconds: inc };
  }

  /** Validate now, showing the problem beside the picker; the control, or undefined. */
  read() {
    try {
      const control = this.value();
      this.dom.error.textContent = "";
      return control;
    } catch (problem) {
      this.dom.error.textContent = problem.message;
      return undefined;
    }
  }
}

/** The two clocks of a timed game (#clocks): yours first, the running one highlighted. */
export class ClocksView {
  constructor({ root, you, opp, youTime, oppTime, oppLabel }) {
    this.dom = { root, you, opp, youTime, oppTime, oppLabel };
    this.timer = null;
  }

  /** Show the clocks of `game` (hidden for an untimed game) and tick the running one. */
  show(game, me) {
    clearInterval(this.timer);
    this.timer = null;
    const { dom } = this;
    if (!game.timeControl || !game.clocks) {
      dom.root.hidden = true;
      return;
    }
    dom.root.hidden = false;
    dom.oppLabel.textContent = game.opponent;
    const mine = game.you === 2 ? "player2" : "player1";
    const theirs = mine === "player1" ? "player2" : "player1";
    const running = game.over || !game.next ? null : game.next === me ? "you" : "opp";
    // A clock runs from its player's second move on (the first has its own limit).
    const startedAt = game.clocksAt;
    const live = running !== null && game.moves.length >= 2;
    const draw = () => {
      const spent = live ? (Date.now() - startedAt) / 1000 : 0;
      const values = {
        you: game.clocks[mine] - (running === "you" ? spent : 0),
        opp: game.clocks[theirs] - (running === "opp" ? spent : 0),
      };
      // Lost on time: the loser's clock stopped at zero, whenever the last state came.
      if (game.over?.reason === "timeout") values[game.over.winner === me ? "opp" : "you"] = 0;
      for (const side of ["you", "opp"]) {
        const left = Math.max(0, values[side]);
        dom[`${side}Time`].textContent = formatClock(left);
        dom[side].classList.toggle("running", running === side);
        dom[side].classList.toggle("low", left < LOW_SECONDS);
      }
    };
    draw();
    if (live) this.timer = setInterval(draw, 100);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
    this.dom.root.hidden = true;
  }
}
