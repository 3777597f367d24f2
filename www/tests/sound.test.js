// The hidden tab's optional sound: off by default, remembered, played only while hidden.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Attention } from "../attention.js";
import { SoundPreference, playAlert, soundToggleText } from "../sound.js";

class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

class FakeAudio {
  static started = 0;
  constructor() {
    this.currentTime = 0;
    this.destination = {};
  }
  createOscillator() {
    return {
      frequency: {},
      connect: (node) => node,
      start: () => {
        FakeAudio.started += 1;
      },
      stop: () => {},
    };
  }
  createGain() {
    return { gain: {}, connect: (node) => node };
  }
  close() {}
}

test("the sound is off until turned on, and the choice is remembered", () => {
  const storage = new FakeStorage();
  assert.equal(new SoundPreference(storage).enabled, false);
  new SoundPreference(storage).enabled = true;
  assert.equal(new SoundPreference(storage).enabled, true); // another page load reads it
  new SoundPreference(storage).enabled = false;
  assert.equal(new SoundPreference(storage).enabled, false);
  assert.equal(new SoundPreference(null).enabled, false);
  const refusing = { getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); } };
  const quiet = new SoundPreference(refusing);
  quiet.enabled = true;
  assert.equal(quiet.enabled, false);
  assert.equal(soundToggleText(true), "Sound alerts: on");
  assert.equal(soundToggleText(false), "Sound alerts: off");
});

test("a tone plays only when the sound is on and Web Audio exists", () => {
  const preference = new SoundPreference(new FakeStorage());
  FakeAudio.started = 0;
  assert.equal(playAlert(preference, FakeAudio), false);
  preference.enabled = true;
  assert.equal(playAlert(preference, FakeAudio), true);
  assert.equal(playAlert(preference, undefined), false);
  assert.equal(FakeAudio.started, 1);
});

test("the alert sounds with the title, only while the tab is hidden", () => {
  const doc = new EventTarget();
  doc.title = "c4actors";
  doc.hidden = false;
  let sounds = 0;
  const attention = new Attention(doc, { sound: () => (sounds += 1) });
  attention.flag("Your turn");
  assert.equal(sounds, 0);
  doc.hidden = true;
  attention.flag("Your turn");
  assert.equal(sounds, 1);
  assert.equal(doc.title, "Your turn — c4actors");
});
