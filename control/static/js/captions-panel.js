/**
 * captions-panel.js — live captions on the room page (a room.js extension: `install(room)`).
 *
 * A toolbar button ("CC") opens a small menu: captions on/off, "I speak" (the language the
 * server recognises for this participant) and "Show me" (the language captions are shown in,
 * translated by the server when it differs), with the languages the server offers
 * (`captions_state.available_languages`). A practitioner or department manager also picks
 * *for whom* the settings are (e.g. the patient's language). Choices go out as `captions`
 * {enabled, speak_lang, read_lang, participant_id?}; the server answers `captions_state`.
 * The button is hidden when the room's settings say `captions_allowed: false`.
 *
 * `caption` messages become subtitles under the speaker's tile (`room.tileElement`): a line
 * per `utterance_id`, a partial replaced by its final (or by a re-attributed echo); finals are
 * also appended to a scrollable transcript, with the time the utterance started
 * (`started_at`, epoch seconds). `caption_withdrawn` {utterance_id} removes a line (a partial
 * that turned out to be another microphone's echo, or speech that ended with no words). The transcript lives only in this page's memory
 * (never stored: closing the page forgets it; the server forgets it when the consultation ends).
 * @module captions-panel
 */

import { toolbarMenu } from './popover.js';

const LANGUAGE_NAMES = (() => {
  try {
    return new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' });
  } catch (_) {
    return null;
  }
})();

/** "fr" -> "French (fr)" in the page's language (the code alone when unknown). */
export function languageLabel(code) {
  const name = LANGUAGE_NAMES ? LANGUAGE_NAMES.of(code) : null;
  return name && name !== code ? `${name} (${code})` : code;
}

/** Subtitle lines kept under a tile, and how long a final stays (ms). */
const LINES_PER_SPEAKER = 2;
const FINAL_VISIBLE_MS = 7000;

/**
 * The subtitles of one speaker: lines by utterance id, newest last.
 * Pure bookkeeping (no DOM), so the replace-by-utterance rule is easy to follow.
 */
export class SubtitleLines {
  constructor(max = LINES_PER_SPEAKER) {
    this.max = max;
    /** @type {{utteranceId: string, text: string, final: boolean}[]} */
    this.lines = [];
  }

  /** A partial or final caption; a line with the same utterance id is replaced in place. */
  put(utteranceId, text, final) {
    const line = this.lines.find((l) => l.utteranceId === utteranceId);
    if (line) {
      line.text = text;
      line.final = final;
    } else {
      this.lines.push({ utteranceId, text, final });
      while (this.lines.length > this.max) this.lines.shift();
    }
  }

  remove(utteranceId) {
    this.lines = this.lines.filter((l) => l.utteranceId !== utteranceId);
  }
}

class CaptionsPanel {
  constructor(room) {
    this.room = room;
    this.client = null;
    this.allowed = true;
    this.available = { speak: [], read: [] };
    /** @type {Map<string, object>} captions_state by participant id */
    this.states = new Map();
    /** @type {Map<string, SubtitleLines>} */
    this.subtitles = new Map();
    this.timers = new Map();
    /** @type {{utteranceId: string, speakerId: string, text: string, language: string, translatedFrom: string|null, at: number}[]} */
    this.transcript = [];
    this.target = null; // whose settings the menu shows (null: mine)

    this.toolbarMenu = toolbarMenu(room, {
      buttonId: 'btn-captions',
      label: 'Captions',
      buttonHtml: '<span aria-hidden="true" class="cc-icon">CC</span><span class="button-label">Captions</span>',
      menuId: 'captions-menu',
      menuClass: 'captions-menu',
      onOpen: () => this.render(),
      focus: () => this.el.enabled,
    });
    this.button = this.toolbarMenu.button;
    this.menu = this.toolbarMenu.menu;
    this.menu.innerHTML = `
      <div class="captions-title">Captions</div>
      <label class="captions-for" hidden>For <select id="captions-for"></select></label>
      <label class="captions-switch"><input type="checkbox" id="captions-enabled"> Show captions</label>
      <label>I speak <select id="captions-speak"></select></label>
      <label>Show me <select id="captions-read"></select></label>
      <label class="captions-switch"><input type="checkbox" id="captions-transcript-toggle"> Transcript</label>
      <p class="captions-note">Captions are made on the server, kept only during the consultation.</p>`;
    this.el = {
      forRow: this.menu.querySelector('.captions-for'),
      forSelect: this.menu.querySelector('#captions-for'),
      enabled: this.menu.querySelector('#captions-enabled'),
      speak: this.menu.querySelector('#captions-speak'),
      read: this.menu.querySelector('#captions-read'),
      transcriptToggle: this.menu.querySelector('#captions-transcript-toggle'),
    };
    this.el.enabled.addEventListener('change', () => this.apply({ enabled: this.el.enabled.checked }));
    this.el.speak.addEventListener('change', () => this.apply({ speak_lang: this.el.speak.value }));
    this.el.read.addEventListener('change', () => this.apply({ read_lang: this.el.read.value }));
    this.el.forSelect.addEventListener('change', () => {
      this.target = this.el.forSelect.value === this.selfId() ? null : this.el.forSelect.value;
      this.render();
    });
    this.el.transcriptToggle.addEventListener('change', () => { this.transcriptEl.hidden = !this.el.transcriptToggle.checked; });

    this.transcriptEl = document.createElement('aside');
    this.transcriptEl.className = 'captions-transcript';
    this.transcriptEl.id = 'captions-transcript';
    this.transcriptEl.setAttribute('aria-label', 'Transcript');
    this.transcriptEl.setAttribute('aria-live', 'polite');
    this.transcriptEl.hidden = true;
    this.transcriptList = document.createElement('ol');
    this.transcriptEl.appendChild(this.transcriptList);
    (room.elements.stage.closest('#call-view') || document.body).appendChild(this.transcriptEl);

    room.onClient((client) => this.attach(client));
  }

  attach(client) {
    this.client = client;
    client.on('joined', ({ settings }) => {
      this.allowed = !settings || settings.captions_allowed !== false;
      this.toolbarMenu.setAllowed(this.allowed);
      // A re-join is a new participant for the server: captions on again if they were.
      const mine = this.lastOwnChoice;
      this.states.clear();
      this.target = null;
      if (this.allowed && mine && mine.enabled) this.send({ ...mine }).catch(() => {});
    });
    client.on('captions_state', (msg) => this.onState(msg));
    client.on('caption', (msg) => this.onCaption(msg));
    client.on('caption_withdrawn', (msg) => this.onWithdrawn(msg));
    client.on('participant_joined', () => this.render());
    client.on('participant_left', ({ participant }) => {
      if (participant && this.target === participant.participant_id) this.target = null;
      this.render();
    });
  }

  selfId() {
    return this.client && this.client.self ? this.client.self.participant_id : null;
  }

  isHost() {
    const role = this.client && this.client.self ? this.client.self.role : null;
    return role === 'practitioner' || role === 'department_manager';
  }

  nameOf(participantId) {
    if (!this.client) return participantId;
    if (participantId === this.selfId()) return 'You';
    const p = this.client.participants.get(participantId);
    return p ? p.name || p.identity : participantId;
  }

  // ------------------------------------------------------------ menu

  currentState() {
    const id = this.target || this.selfId();
    return this.states.get(id) || { participant_id: id, enabled: false, speak_lang: null, read_lang: null };
  }

  render() {
    const state = this.currentState();
    const host = this.isHost() && this.client;
    this.el.forRow.hidden = !host;
    if (host) {
      const ids = [this.selfId(), ...this.client.participants.keys()];
      this.el.forSelect.replaceChildren(...ids.map((id) => new Option(this.nameOf(id), id)));
      this.el.forSelect.value = this.target || this.selfId();
    }
    const forOther = !!this.target;
    // "Show captions" and "Show me" are about reading: for someone else, the practitioner
    // sets what the patient reads on the patient's screen.
    this.el.enabled.checked = !!state.enabled;
    fillLanguages(this.el.speak, this.available.speak, state.speak_lang);
    fillLanguages(this.el.read, this.available.read, state.read_lang || preferredLanguage(this.available.read));
    this.el.transcriptToggle.closest('label').hidden = forOther;
  }

  /** A change in the menu: send the whole choice for the person the menu is about. */
  apply(change) {
    const state = this.currentState();
    const fields = {
      enabled: change.enabled !== undefined ? change.enabled : !!state.enabled,
      speak_lang: change.speak_lang || this.el.speak.value || undefined,
      read_lang: change.read_lang || this.el.read.value || undefined,
    };
    if (this.target) fields.participant_id = this.target;
    this.send(fields).catch((err) => {
      this.room.toast(err && err.message ? `Captions: ${err.message}` : 'Captions could not be changed');
      this.render();
    });
  }

  async send(fields) {
    const reply = await this.client.request('captions', fields);
    if (!fields.participant_id) this.lastOwnChoice = { enabled: fields.enabled, speak_lang: fields.speak_lang, read_lang: fields.read_lang };
    return reply;
  }

  onState(msg) {
    if (msg.available_languages) {
      this.available = {
        speak: msg.available_languages.speak || [],
        read: msg.available_languages.read || [],
      };
    }
    this.states.set(msg.participant_id, msg);
    if (msg.participant_id === this.selfId() && !msg.enabled) this.clearSubtitles();
    if (!this.menu.hidden) this.render();
  }

  // ------------------------------------------------------------ subtitles and transcript

  onCaption(msg) {
    const speakerId = msg.speaker_id;
    // an echo re-attributed: the line moves to the real speaker
    for (const [other, lines] of this.subtitles) {
      if (other !== speakerId && lines.lines.some((l) => l.utteranceId === msg.utterance_id)) {
        lines.remove(msg.utterance_id);
        this.renderSubtitles(other);
      }
    }
    let lines = this.subtitles.get(speakerId);
    if (!lines) {
      lines = new SubtitleLines();
      this.subtitles.set(speakerId, lines);
    }
    lines.put(msg.utterance_id, msg.text, !!msg.final);
    this.renderSubtitles(speakerId);
    const key = `${speakerId}/${msg.utterance_id}`;
    clearTimeout(this.timers.get(key));
    if (msg.final) {
      this.timers.set(key, setTimeout(() => {
        this.timers.delete(key);
        lines.remove(msg.utterance_id);
        this.renderSubtitles(speakerId);
      }, FINAL_VISIBLE_MS));
      this.addToTranscript(msg);
    }
  }

  /** `caption_withdrawn`: the line goes wherever it is (unknown ids are ignored). */
  onWithdrawn(msg) {
    const id = msg.utterance_id;
    for (const [speakerId, lines] of this.subtitles) {
      if (!lines.lines.some((l) => l.utteranceId === id)) continue;
      lines.remove(id);
      const key = `${speakerId}/${id}`;
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
      this.renderSubtitles(speakerId);
    }
    const index = this.transcript.findIndex((e) => e.utteranceId === id);
    if (index >= 0) this.transcript.splice(index, 1);
    const item = this.transcriptList.querySelector(`li[data-utterance="${CSS.escape(id)}"]`);
    if (item) item.remove();
  }

  renderSubtitles(speakerId) {
    const tile = this.room.tileElement(speakerId);
    if (!tile) return;
    let box = tile.querySelector(':scope > .captions-subtitles');
    if (!box) {
      box = document.createElement('div');
      box.className = 'captions-subtitles';
      box.setAttribute('aria-live', 'polite');
      tile.appendChild(box);
    }
    const lines = this.subtitles.get(speakerId);
    box.replaceChildren(...(lines ? lines.lines : []).map((line) => {
      const p = document.createElement('p');
      p.className = line.final ? 'captions-line final' : 'captions-line partial';
      p.dataset.utterance = line.utteranceId;
      p.textContent = line.text;
      return p;
    }));
    box.hidden = !lines || lines.lines.length === 0;
  }

  clearSubtitles() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    const speakers = [...this.subtitles.keys()];
    this.subtitles.clear();
    for (const id of speakers) this.renderSubtitles(id);
  }

  addToTranscript(msg) {
    const existing = this.transcript.find((e) => e.utteranceId === msg.utterance_id);
    const startedMs = typeof msg.started_at === 'number' ? msg.started_at * 1000 : Date.now();
    const entry = existing || { utteranceId: msg.utterance_id, at: startedMs };
    Object.assign(entry, { speakerId: msg.speaker_id, text: msg.text, language: msg.language, translatedFrom: msg.translated_from || null });
    if (!existing) this.transcript.push(entry);
    const stuck = this.transcriptEl.scrollTop + this.transcriptEl.clientHeight >= this.transcriptEl.scrollHeight - 8;
    let item = this.transcriptList.querySelector(`li[data-utterance="${CSS.escape(msg.utterance_id)}"]`);
    if (!item) {
      item = document.createElement('li');
      item.dataset.utterance = msg.utterance_id;
      this.transcriptList.appendChild(item);
    }
    const when = document.createElement('time');
    when.dateTime = new Date(entry.at).toISOString();
    when.textContent = `${new Date(entry.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })} `;
    const who = document.createElement('strong');
    who.textContent = `${this.nameOf(entry.speakerId)}: `;
    const text = document.createElement('span');
    text.textContent = entry.text;
    item.replaceChildren(when, who, text);
    if (entry.translatedFrom) item.title = `translated from ${languageLabel(entry.translatedFrom)}`;
    if (stuck) this.transcriptEl.scrollTop = this.transcriptEl.scrollHeight;
  }
}

function fillLanguages(select, codes, selected) {
  const list = codes.length ? codes : selected ? [selected] : [];
  select.replaceChildren(...list.map((code) => new Option(languageLabel(code), code)));
  if (selected && list.includes(selected)) select.value = selected;
}

/** The browser's language when the server offers it, else English when offered. */
function preferredLanguage(codes) {
  const wanted = (navigator.languages || [navigator.language || 'en']).map((l) => l.toLowerCase());
  for (const lang of wanted) {
    if (codes.includes(lang)) return lang;
    const primary = lang.split('-')[0];
    if (codes.includes(primary)) return primary;
  }
  return codes.includes('en') ? 'en' : codes[0] || null;
}

/** room.js extension entry point. */
export function install(room) {
  const panel = new CaptionsPanel(room);
  window.consult = window.consult || {};
  window.consult.captions = panel;
  return panel;
}
