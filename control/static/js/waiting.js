/**
 * waiting.js — the waiting-room screens of the control plane, an extension of room.js.
 *
 * room.js imports this module (if the server serves it) and calls `install(room)` with its
 * RoomApi. Two screens:
 *  - client/guest: the waiting screen in `room.elements.waiting` — early / on time / late,
 *    the appointment time, how long they have been waiting, the practitioner's status and
 *    the announcements (live: `waiting` and `announcement` messages);
 *  - practitioner/department manager: a queue panel in `room.elements.panel` (toolbar button
 *    "Waiting room" with a count badge) listing each waiting person with name, appointment
 *    time, waiting since and a colour-coded status (on time green, late red, walk-in yellow),
 *    with Admit / Deny, plus Force start, End consultation and (walk-in rooms) availability.
 *
 * Wire messages (signalling/messages_waiting.py): server -> client `waiting`, `announcement`,
 * `queue`, `admitted`, `denied`, `consultation_ended`; client -> server `admit`, `deny`,
 * `force_start`, `end_consultation`, `set_availability`.
 * The pure helpers are exported for tests.
 * @module waiting
 */

const HOST_ROLES = new Set(['practitioner', 'department_manager']);

export const STATUS_TEXT = Object.freeze({
  on_time: 'On time',
  late: 'Late',
  walk_in: 'Walk-in',
  waiting_for_client: 'Waiting for the client',
});

export const PRACTITIONER_TEXT = Object.freeze({
  offline: 'Your practitioner has not arrived yet.',
  online: 'Your practitioner is here and will let you in shortly.',
  in_consultation: 'Your practitioner is still in another consultation.',
});

/** CSS class of a queue entry's status (colour code). */
export function statusClass(status) {
  return `wr-status-${STATUS_TEXT[status] ? status : 'other'}`;
}

/**
 * Early / on time / late as the client sees it, from the server's clock.
 * @returns {{key: 'early'|'on_time'|'late'|'walk_in'|'waiting_for_client', text: string}}
 */
export function arrival(waiting) {
  if (waiting.status === 'walk_in') return { key: 'walk_in', text: 'You are in the walk-in queue.' };
  if (waiting.status === 'waiting_for_client') {
    return { key: 'waiting_for_client', text: 'You can enter as soon as the client has joined the consultation.' };
  }
  if (waiting.status === 'late') return { key: 'late', text: 'Your appointment has started; the practitioner knows you are here.' };
  const at = waiting.appointment_at;
  if (typeof at === 'number' && waiting.server_time < at - 60) {
    return { key: 'early', text: `You are early: your appointment is at ${clockTime(at)}.` };
  }
  return { key: 'on_time', text: 'You are on time.' };
}

/** Announcements still shown at `serverNow` (expired ones are hidden without a round trip). */
export function visibleAnnouncements(list, serverNow) {
  return (list || []).filter((a) => a.expires_at == null || serverNow < a.expires_at);
}

/** "14:05" for unix seconds. */
export function clockTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "3 min" / "1 h 05 min" / "less than a minute" */
export function waitedText(seconds) {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** The client's waiting screen; returns an updater for later messages. */
export class WaitingScreen {
  constructor(container) {
    this.container = container;
    this.state = null;
    this.offsetS = 0; // server clock - local clock
    this.timer = null;
  }

  update(waiting) {
    this.state = { ...(this.state || {}), ...waiting };
    if (typeof waiting.server_time === 'number') this.offsetS = waiting.server_time - Date.now() / 1000;
    this.render();
    if (!this.timer) this.timer = setInterval(() => this.render(), 15000);
  }

  setAnnouncements(list) {
    if (!this.state) return;
    this.state.announcements = list;
    this.render();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  render() {
    const w = this.state;
    if (!w) return;
    const now = Date.now() / 1000 + this.offsetS;
    const card = el('div', 'wr-card');
    card.dataset.arrival = arrival({ ...w, server_time: now }).key;
    card.appendChild(el('h1', null, 'Waiting room'));
    card.appendChild(el('p', 'wr-arrival', arrival({ ...w, server_time: now }).text));
    const facts = el('dl', 'wr-facts');
    if (typeof w.appointment_at === 'number') {
      facts.append(el('dt', null, 'Appointment'), el('dd', null, clockTime(w.appointment_at)));
    }
    if (typeof w.waiting_since === 'number') {
      facts.append(el('dt', null, 'Waiting for'), el('dd', 'wr-waited', waitedText(now - w.waiting_since)));
    }
    card.appendChild(facts);
    const status = el('p', `wr-practitioner wr-practitioner-${w.practitioner_status}`, PRACTITIONER_TEXT[w.practitioner_status] || '');
    card.appendChild(status);
    const shown = visibleAnnouncements(w.announcements, now);
    if (shown.length) {
      const list = el('ul', 'wr-announcements');
      list.setAttribute('aria-label', 'Announcements');
      for (const a of shown) list.appendChild(el('li', `wr-announcement wr-scope-${a.scope || 'room'}`, a.text));
      card.appendChild(list);
    }
    card.appendChild(el('p', 'wr-hint', 'Keep this page open: you will enter the consultation automatically.'));
    this.container.replaceChildren(card);
  }
}

/** The practitioner's queue panel. */
export class QueuePanel {
  /**
   * @param {HTMLElement} container
   * @param {{admit: (id: string) => void, deny: (id: string, message: string) => void,
   *          forceStart: () => void, end: () => void, setAvailable: (on: boolean) => void}} actions
   */
  constructor(container, actions) {
    this.container = container;
    this.actions = actions;
    this.queue = { entries: [], state: 'scheduled', available: null };
    this.announcements = [];
    this.onCount = () => {};
  }

  update(queue) {
    this.queue = queue;
    this.render();
    this.onCount(queue.entries.length);
    // keep "waiting since (n min)" current between server updates
    if (!this.timer) this.timer = setInterval(() => this.render(), 30000);
  }

  setAnnouncements(list) {
    this.announcements = list;
    this.render();
  }

  render() {
    const q = this.queue;
    const root = el('div', 'wr-panel');
    root.appendChild(el('h2', null, `Waiting room (${q.entries.length})`));
    const now = Date.now() / 1000;
    if (!q.entries.length) root.appendChild(el('p', 'wr-empty', 'Nobody is waiting.'));
    const list = el('ul', 'wr-queue');
    for (const entry of q.entries) {
      const item = el('li', `wr-entry ${statusClass(entry.status)}`);
      item.dataset.participantId = entry.participant_id;
      item.appendChild(el('span', 'wr-name', entry.name));
      const meta = [STATUS_TEXT[entry.status] || entry.status];
      if (typeof entry.appointment_at === 'number') meta.push(`appointment ${clockTime(entry.appointment_at)}`);
      if (typeof entry.waiting_since === 'number') meta.push(`waiting since ${clockTime(entry.waiting_since)} (${waitedText(now - entry.waiting_since)})`);
      item.appendChild(el('span', 'wr-meta', meta.join(' · ')));
      const buttons = el('span', 'wr-actions');
      const admit = el('button', 'primary wr-admit', 'Admit');
      admit.type = 'button';
      admit.disabled = entry.status === 'waiting_for_client';
      admit.title = admit.disabled ? 'Guests enter once the client is in the consultation' : `Let ${entry.name} in`;
      admit.addEventListener('click', () => this.actions.admit(entry.participant_id));
      const deny = el('button', 'wr-deny', 'Deny');
      deny.type = 'button';
      deny.addEventListener('click', () => {
        const message = window.prompt(`Message for ${entry.name} (optional):`, '');
        if (message !== null) this.actions.deny(entry.participant_id, message);
      });
      buttons.append(admit, deny);
      item.appendChild(buttons);
      list.appendChild(item);
    }
    root.appendChild(list);
    const controls = el('div', 'wr-controls');
    if (q.state === 'scheduled') {
      const force = el('button', 'wr-force', 'Start without the client');
      force.type = 'button';
      force.addEventListener('click', () => this.actions.forceStart());
      controls.appendChild(force);
    }
    if (q.available !== null && q.available !== undefined) {
      const toggle = el('button', q.available ? 'active wr-availability' : 'wr-availability', q.available ? 'Available for walk-in' : 'Not available for walk-in');
      toggle.type = 'button';
      toggle.setAttribute('aria-pressed', String(Boolean(q.available)));
      toggle.addEventListener('click', () => this.actions.setAvailable(!q.available));
      controls.appendChild(toggle);
    }
    const end = el('button', 'danger wr-end', 'End consultation');
    end.type = 'button';
    end.addEventListener('click', () => {
      if (window.confirm('End the consultation for everyone?')) this.actions.end();
    });
    controls.appendChild(end);
    root.appendChild(controls);
    const shown = visibleAnnouncements(this.announcements, now);
    if (shown.length) {
      root.appendChild(el('h3', null, 'Announcements shown to waiting people'));
      const ann = el('ul', 'wr-announcements');
      for (const a of shown) ann.appendChild(el('li', 'wr-announcement', a.text));
      root.appendChild(ann);
    }
    this.container.replaceChildren(root);
  }
}

/**
 * Entry point called by room.js.
 * @param {object} room  the RoomApi of room.js
 */
export function install(room) {
  const role = room.claims.role;
  const host = HOST_ROLES.has(role);
  let screen = null;
  let panel = null;
  let badge = null;
  if (host) {
    panel = new QueuePanel(room.elements.panel, {
      admit: (id) => sendSafely(room, 'admit', { participant_id: id }),
      deny: (id, message) => sendSafely(room, 'deny', { participant_id: id, message }),
      forceStart: () => sendSafely(room, 'force_start'),
      end: () => sendSafely(room, 'end_consultation'),
      setAvailable: (on) => sendSafely(room, 'set_availability', { available: on }),
    });
    badge = room.addToolbarButton({
      id: 'btn-waiting-room',
      label: 'Waiting room',
      onClick: () => { room.elements.panel.hidden = !room.elements.panel.hidden; },
    });
    panel.onCount = (n) => {
      badge.dataset.count = String(n);
      badge.textContent = n ? `Waiting room (${n})` : 'Waiting room';
      badge.classList.toggle('wr-has-waiting', n > 0);
    };
  } else {
    // its own element: the waiting view also holds the chat (chat-panel.js)
    const screenEl = el('div', 'wr-screen');
    room.elements.waiting.prepend(screenEl);
    screen = new WaitingScreen(screenEl);
  }
  room.onClient((client) => {
    client.on('waiting', (msg) => {
      if (!screen) return;
      room.elements.waiting.querySelector('.waiting-default')?.remove();
      screen.update(msg);
    });
    client.on('announcement', (msg) => {
      if (screen) screen.setAnnouncements(msg.announcements);
      if (panel) panel.setAnnouncements(msg.announcements);
    });
    let lastCount = null;
    client.on('queue', (msg) => {
      if (!panel) return;
      panel.update(msg);
      // open the panel when someone new arrives, and on arrival before the consultation started
      const first = lastCount === null;
      if ((msg.entries.length > (lastCount ?? 0)) || (first && msg.state === 'scheduled')) {
        room.elements.panel.hidden = false;
      }
      lastCount = msg.entries.length;
    });
    client.on('admitted', () => screen && screen.stop());
    client.on('consultation_ended', (msg) => {
      if (screen) screen.stop();
      room.showMessage('The consultation has ended', msg.post_consultation_message || 'Thank you. You can close this page.');
    });
    client.on('error', ({ error }) => {
      if (error && ['not_waiting', 'waiting_for_client', 'already_started', 'forbidden', 'not_walk_in', 'room_ended'].includes(error.code)) {
        room.toast(error.message);
      }
    });
  });
}

function sendSafely(room, type, fields = {}) {
  try {
    if (!room.client) throw new Error('not connected');
    room.client.send(type, fields);
  } catch (err) {
    room.toast(`Could not send: ${err.message}`);
  }
}
