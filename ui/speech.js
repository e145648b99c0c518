// Voice guidance and captions. Every message is written to the caption log (#speech-log)
// whether or not voice is on; when voice is on it is also played from the daemon's TTS
// (GET /api/v1/speech) through one <audio> element, one message after another.

const MAX_LOG = 30;

export class Voice {
  constructor({ log, audio, onChange }) {
    this.log = log;
    this.audio = audio;
    this.onChange = onChange || (() => {});
    this.on = false;
    this.private = false; // earphones in: sound goes to the earphone only
    this.volume = 70; // 0..100
    this.rate = 1.0; // 0.5..2.0
    this.queue = [];
    this.last = '';
    this.lastLang = 'ko';
    this.playing = false;
    audio.addEventListener('ended', () => this.next());
    audio.addEventListener('error', () => this.next());
  }

  /** Shows `text` as a caption and, when voice is on, speaks it. */
  say(text, { lang = 'ko', interrupt = false, remember = false } = {}) {
    text = String(text || '').trim();
    if (!text) return;
    if (interrupt) this.stop(false);
    if (remember) { this.last = text; this.lastLang = lang; }
    const p = document.createElement('p');
    p.lang = lang;
    p.textContent = text;
    this.log.append(p);
    while (this.log.childElementCount > MAX_LOG) this.log.firstElementChild.remove();
    if (this.on) {
      // The TTS endpoint takes at most 500 characters: long messages go in pieces.
      for (const piece of chunks(text, 480)) this.queue.push({ text: piece, lang });
      if (!this.playing) this.next();
    }
  }

  next() {
    const item = this.queue.shift();
    if (!item) { this.playing = false; return; }
    this.playing = true;
    const q = new URLSearchParams({ lang: item.lang, rate: this.rate.toFixed(2), text: item.text });
    this.audio.src = `/api/v1/speech?${q}`;
    this.audio.volume = this.volume / 100;
    const p = this.audio.play();
    if (p && p.catch) p.catch(() => this.next());
  }

  stop(clearCaption = false) {
    this.queue = [];
    this.playing = false;
    this.audio.pause();
    this.audio.removeAttribute('src');
    if (clearCaption) this.log.replaceChildren();
  }

  replay() { if (this.last) this.say(this.last, { lang: this.lastLang, interrupt: true }); }

  setOn(on) { this.on = on; if (!on) this.stop(); this.onChange(); }
  setVolume(v) { this.volume = Math.max(0, Math.min(100, v)); this.audio.volume = this.volume / 100; this.onChange(); }
  setRate(r) { this.rate = Math.max(0.5, Math.min(2.0, Math.round(r * 4) / 4)); this.onChange(); }
}

function* chunks(text, n) {
  const chars = [...text];
  for (let i = 0; i < chars.length; i += n) yield chars.slice(i, i + n).join('');
}
