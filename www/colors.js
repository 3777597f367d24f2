// Token colours: the palette accounts choose from (served by the server, whose
// c4actors/colors.py is its one source: GET /api/config), the swatch radio buttons that
// pick one, and the CSS custom properties that paint a board's tokens.

import { CONFIG } from "./config.js";

/** Name -> CSS colour, in the server's order. */
export const PALETTE = CONFIG.palette;

/** Guests' colours, and the fallback when a game's colours are missing or malformed. */
export const DEFAULT_COLORS = Object.freeze({
  player1: PALETTE[CONFIG.guest_colors.player1],
  player2: PALETTE[CONFIG.guest_colors.player2],
});

const HEX_COLOR = /^#[0-9a-fA-F]{6}$/;

export function isColorName(name) {
  return Object.hasOwn(PALETTE, name);
}

/** "blue" -> "Blue": the label a person reads next to a swatch. */
export function colorLabel(name) {
  return name ? name.charAt(0).toUpperCase() + name.slice(1) : "";
}

/** Relative luminance check: pick a readable ink colour to put on top of a token colour. */
export function inkFor(hex) {
  const n = parseInt(hex.slice(1), 16);
  const lin = (v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return lum > 0.4 ? "#111827" : "#ffffff";
}

/**
 * Paint the tokens under `root` with a game's colours (--p1, --p2 and their inks).
 * CSSOM custom properties, not a style attribute, so a strict CSP still allows them.
 * @returns {{player1: string, player2: string}} the colours actually used
 */
export function applyTokenColors(root, colors) {
  const used = {
    player1: HEX_COLOR.test(colors?.player1 ?? "") ? colors.player1 : DEFAULT_COLORS.player1,
    player2: HEX_COLOR.test(colors?.player2 ?? "") ? colors.player2 : DEFAULT_COLORS.player2,
  };
  root.style.setProperty("--p1", used.player1);
  root.style.setProperty("--p2", used.player2);
  root.style.setProperty("--p1-ink", inkFor(used.player1));
  root.style.setProperty("--p2-ink", inkFor(used.player2));
  return used;
}

/** Show `name`'s colour on a dot element (its background reads --swatch). */
export function paintSwatch(el, name) {
  if (isColorName(name)) el.style.setProperty("--swatch", PALETTE[name]);
  else el.style.removeProperty("--swatch");
}

/**
 * Fill `container` with one labelled radio button per palette colour.
 * The radios are real inputs (arrow keys move between them, a screen reader reads
 * "Blue, radio button, 6 of 10"); the dot is only their picture.
 * @param {HTMLElement} container usually the body of a <fieldset> with a <legend>
 * @param {{group: string, selected?: string|null, describedBy?: string}} options
 * @returns {HTMLInputElement[]}
 */
export function renderSwatches(container, { group, selected = null, describedBy = "" }) {
  const radios = [];
  container.replaceChildren();
  for (const name of Object.keys(PALETTE)) {
    const label = document.createElement("label");
    label.className = "swatch";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = group;
    radio.value = name;
    radio.className = "swatch-input";
    radio.checked = name === selected;
    if (describedBy) radio.setAttribute("aria-describedby", describedBy);
    const dot = document.createElement("span");
    dot.className = "swatch-dot";
    dot.setAttribute("aria-hidden", "true");
    paintSwatch(dot, name);
    const text = document.createElement("span");
    text.className = "swatch-name";
    text.textContent = colorLabel(name);
    label.append(radio, dot, text);
    container.append(label);
    radios.push(radio);
  }
  return radios;
}

/** The checked colour among `radios`, or null. */
export function checkedColor(radios) {
  return radios.find((radio) => radio.checked)?.value ?? null;
}

/** Check the radio of `name` (none when null). */
export function checkColor(radios, name) {
  for (const radio of radios) radio.checked = radio.value === name;
}
