// The optional sound of a hidden tab's alerts (attention.js): off unless the person turns it
// on with the visible toggle, and remembered in localStorage, so it stays as they left it.
// One short tone made with Web Audio: no file to fetch, nothing to play when off.

const KEY = "c4actors.sound";
const TONE_HZ = 660;
const TONE_S = 0.15;

/** Whether alerts make a sound, kept in `storage` (localStorage in the page). */
export class SoundPreference {
  /** @param {{getItem: (k: string) => string|null, setItem: (k: string, v: string) => void}|null} storage */
  constructor(storage) {
    this.storage = storage;
  }

  get enabled() {
    try {
      return this.storage?.getItem(KEY) === "on";
    } catch {
      return false; // storage refused (private mode): silent, as by default
    }
  }

  set enabled(on) {
    try {
      this.storage?.setItem(KEY, on ? "on" : "off");
    } catch {
      /* not remembered; the toggle still shows what the person chose for this page */
    }
  }
}

/** The toggle's text for a state: what it is now. Pure. */
export function soundToggleText(on) {
  return on ? "Sound alerts: on" : "Sound alerts: off";
}

/**
 * A short tone, if the browser has Web Audio (`AudioContextClass`) and `preference` is on.
 * Returns whether it played.
 */
export function playAlert(preference, AudioContextClass = globalThis.AudioContext) {
  if (!preference.enabled || typeof AudioContextClass !== "function") return false;
  const audio = new AudioContextClass();
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = TONE_HZ;
  gain.gain.value = 0.15;
  tone.connect(gain).connect(audio.destination);
  // Browsers let a page make sound once the person has used it (here they have: the toggle
  // at least); before that the context stays suspended and the tone is silent, no error.
  audio.resume?.();
  tone.start();
  tone.stop(audio.currentTime + TONE_S);
  tone.addEventListener?.("ended", () => audio.close());
  return true;
}
