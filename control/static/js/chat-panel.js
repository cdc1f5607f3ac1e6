/**
 * chat-panel.js — chat, shared links and files on the room page (a room.js extension:
 * `install(room)`), in the waiting room and in the consultation (docs/signalling.md, "Chat
 * and files").
 *
 * One chat box moves with the person: on the waiting screen (a client or guest writes to the
 * practice while they wait) and, once inside, in a side panel opened by the "Chat" toolbar
 * button, whose badge counts the messages not seen yet. Staff (practitioner, department
 * manager) have a thread per waiting person beside the consultation's: the queue panel shows
 * each waiting person's unread count, and a click opens their thread; an answer goes to that
 * person only (`to`).
 *
 * Everything people write is shown as text (`textContent`, never HTML); a shared link is an
 * `<a rel="noopener noreferrer" target="_blank">` only when it is http(s). A message that is a
 * single http(s) address is sent as a link. Files are sent over HTTP with the join token
 * (`POST ../files/<room>?name=…`); "Download" asks the server for a short-lived link
 * (`get_file_link`) and follows it. Nothing is kept by the page beyond its own memory.
 * @module chat-panel
 */

const STAFF_ROLES = new Set(['practitioner', 'department_manager']);
export const CONSULTATION = 'consultation';

/** The thread key of a message: 'consultation' or 'waiting:<identity>'. */
export function threadOf(msg) {
  return msg.thread === 'waiting' ? `waiting:${msg.waiting_identity}` : CONSULTATION;
}

/** An http(s) address we may render as a link (anything else stays text). */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

/** "12 kB" / "3.4 MB" */
export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * The messages of every thread, by message id (a message can arrive live and in a history),
 * with unread counts. Pure bookkeeping, no DOM.
 */
export class ChatLog {
  constructor() {
    /** @type {Map<string, object[]>} thread -> messages in arrival order */
    this.threads = new Map();
    this.ids = new Set();
    /** @type {Map<string, number>} thread -> messages not seen */
    this.unread = new Map();
  }

  /** Add a message; false when it was known already. `seen`: the person is looking at its thread. */
  add(msg, seen) {
    if (this.ids.has(msg.message_id)) return false;
    this.ids.add(msg.message_id);
    const thread = threadOf(msg);
    if (!this.threads.has(thread)) this.threads.set(thread, []);
    this.threads.get(thread).push(msg);
    if (!seen) this.unread.set(thread, (this.unread.get(thread) || 0) + 1);
    return true;
  }

  read(thread) {
    this.unread.delete(thread);
  }

  totalUnread() {
    let n = 0;
    for (const count of this.unread.values()) n += count;
    return n;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

class ChatPanel {
  constructor(room) {
    this.room = room;
    this.staff = STAFF_ROLES.has(room.claims.role);
    this.log = new ChatLog();
    this.thread = CONSULTATION;
    this.inside = false;
    this.open = false;
    /** @type {Map<string, {participant_id: string, identity: string, name: string}>} waiting people by identity */
    this.waiting = new Map();
    this.buildBox();
    this.buildCallPanel();
    room.onClient((client) => this.attach(client));
  }

  buildBox() {
    const box = el('section', 'chat-box');
    box.id = 'chat-box';
    box.setAttribute('aria-label', 'Chat');
    const head = el('div', 'chat-head');
    this.title = el('h2', 'chat-title', 'Chat');
    this.threadSelect = document.createElement('select');
    this.threadSelect.id = 'chat-thread';
    this.threadSelect.setAttribute('aria-label', 'Conversation');
    this.threadSelect.hidden = !this.staff;
    this.threadSelect.addEventListener('change', () => this.show(this.threadSelect.value));
    head.append(this.title, this.threadSelect);
    this.list = el('ol', 'chat-messages');
    this.list.setAttribute('aria-live', 'polite');
    this.note = el('p', 'chat-note', '');
    const form = el('form', 'chat-form');
    this.input = document.createElement('textarea');
    this.input.id = 'chat-input';
    this.input.rows = 2;
    this.input.maxLength = 4096;
    this.input.placeholder = 'Write a message';
    this.input.setAttribute('aria-label', 'Message');
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    const send = el('button', 'primary chat-send', 'Send');
    send.type = 'submit';
    send.id = 'chat-send';
    this.fileInput = document.createElement('input');
    this.fileInput.type = 'file';
    this.fileInput.id = 'chat-file';
    this.fileInput.hidden = true;
    this.fileInput.addEventListener('change', () => this.uploadChosen());
    this.fileButton = el('button', 'chat-attach', 'Send a file');
    this.fileButton.type = 'button';
    this.fileButton.id = 'chat-attach';
    this.fileButton.hidden = true; // files only inside the consultation
    this.fileButton.addEventListener('click', () => this.fileInput.click());
    form.append(this.input, send, this.fileButton, this.fileInput);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.sendText();
    });
    box.append(head, this.list, this.note, form);
    this.box = box;
  }

  buildCallPanel() {
    this.panel = el('aside', 'chat-panel');
    this.panel.id = 'chat-panel';
    this.panel.hidden = true;
    const close = el('button', 'chat-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close the chat');
    close.addEventListener('click', () => this.setOpen(false));
    this.panel.appendChild(close);
    const body = this.room.elements.stage.closest('.call-body') || this.room.elements.stage.parentElement;
    body.appendChild(this.panel);
    this.button = this.room.addToolbarButton({ id: 'btn-chat', label: 'Chat', onClick: () => this.setOpen(!this.open) });
    this.badge = el('span', 'chat-badge', '');
    this.badge.hidden = true;
    this.button.appendChild(this.badge);
  }

  attach(client) {
    this.client = client;
    client.on('waiting', () => this.mountWaiting());
    client.on('joined', () => this.mountCall());
    client.on('chat_history', (msg) => {
      this.retention = msg.retention;
      for (const m of msg.messages || []) this.log.add(m, this.sees(threadOf(m)));
      this.render();
    });
    client.on('chat_message', (msg) => this.receive(msg));
    client.on('file_shared', (msg) => this.receive(msg));
    client.on('queue', (msg) => {
      this.waiting = new Map((msg.entries || []).map((e) => [e.identity, e]));
      this.render();
    });
    if (this.staff) this.watchQueuePanel();
  }

  /** Whether the person sees the messages of ``thread`` now. A client or guest has one view
   * of everything they may read (their waiting thread and the consultation); staff one thread
   * at a time. */
  sees(thread) {
    const visible = this.inside ? this.open : this.box.isConnected;
    return visible && (!this.staff || thread === this.thread);
  }

  /** The messages on screen: staff's chosen thread, or all a client or guest may read. */
  shownMessages() {
    if (this.staff) return this.log.threads.get(this.thread) || [];
    return [...this.log.threads.values()].flat().sort((a, b) => a.at - b.at);
  }

  markRead() {
    if (this.staff) this.log.read(this.thread);
    else for (const thread of [...this.log.unread.keys()]) this.log.read(thread);
  }

  mountWaiting() {
    this.inside = false;
    const waiting = this.room.elements.waiting;
    let slot = waiting.querySelector('.chat-waiting-slot');
    if (!slot) {
      slot = el('div', 'chat-waiting-slot');
      waiting.appendChild(slot);
    }
    if (this.box.parentElement !== slot) slot.appendChild(this.box);
    this.title.textContent = 'Write to the practice';
    this.fileButton.hidden = true;
    this.markRead();
    this.render();
  }

  mountCall() {
    this.inside = true;
    if (this.box.parentElement !== this.panel) this.panel.appendChild(this.box);
    this.title.textContent = 'Chat';
    this.fileButton.hidden = false;
    this.render();
  }

  setOpen(open) {
    this.open = open;
    this.panel.hidden = !open;
    this.button.setAttribute('aria-pressed', String(open));
    if (open) {
      this.markRead();
      this.input.focus();
    }
    this.render();
  }

  show(thread) {
    this.thread = thread;
    this.log.read(thread);
    this.render();
  }

  receive(msg) {
    if (this.log.add(msg, this.sees(threadOf(msg)))) this.render();
  }

  async sendText() {
    const text = this.input.value.trim();
    if (!text || !this.client) return;
    const fields = safeUrl(text) && !/\s/.test(text) ? { kind: 'link', url: text } : { kind: 'text', text };
    if (this.thread.startsWith('waiting:') && this.staff) {
      const person = this.waiting.get(this.thread.slice('waiting:'.length));
      if (!person) {
        this.room.toast('This person is no longer in the waiting room.');
        return;
      }
      fields.to = person.participant_id;
    }
    try {
      const reply = await this.client.request('chat_send', fields);
      this.input.value = '';
      this.receive(reply);
    } catch (err) {
      this.room.toast(`Message not sent: ${err.message}`);
    }
  }

  async uploadChosen() {
    const file = this.fileInput.files && this.fileInput.files[0];
    this.fileInput.value = '';
    if (!file || !this.client) return;
    const url = new URL(`../files/${encodeURIComponent(this.room.claims.room)}`, location.href);
    url.searchParams.set('name', file.name);
    this.note.textContent = `Sending ${file.name}…`;
    try {
      const resp = await fetch(url, { method: 'POST', body: file, headers: { Authorization: `Bearer ${this.client.token}` } });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error((body.error && body.error.message) || `HTTP ${resp.status}`);
      this.note.textContent = '';
    } catch (err) {
      this.note.textContent = `${file.name} was not sent: ${err.message}`;
    }
  }

  async download(file, anchor) {
    try {
      const link = await this.client.request('get_file_link', { file_id: file.file_id });
      anchor.href = new URL(`../${link.url}`, location.href).href;
      anchor.dataset.ready = 'true';
      anchor.click();
    } catch (err) {
      this.room.toast(`${file.name} cannot be downloaded: ${err.message}`);
    }
  }

  render() {
    if (this.staff) this.renderThreads();
    const items = this.shownMessages().map((m) => this.renderMessage(m));
    if (!items.length) items.push(el('li', 'chat-empty', this.inside ? 'No messages yet.' : 'You can write to the practice while you wait.'));
    this.list.replaceChildren(...items);
    this.list.scrollTop = this.list.scrollHeight;
    if (this.retention === 'delete' && !this.note.textContent) this.note.textContent = 'The chat is deleted when the consultation ends.';
    const unread = this.log.totalUnread();
    this.badge.hidden = unread === 0;
    this.badge.textContent = String(unread);
    this.button.dataset.unread = String(unread);
    this.decorateQueue();
  }

  renderMessage(m) {
    const mine = m.sender.identity === this.room.claims.sub;
    const item = el('li', `chat-message chat-${m.kind}${mine ? ' chat-mine' : ''}`);
    item.dataset.messageId = m.message_id;
    const who = el('span', 'chat-sender', `${m.sender.name} · ${new Date(m.at * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`);
    item.appendChild(who);
    if (m.kind === 'link') {
      const href = safeUrl(m.url);
      const body = href ? el('a', 'chat-link', m.text || m.url) : el('span', 'chat-text', m.url);
      if (href) {
        body.href = href;
        body.target = '_blank';
        body.rel = 'noopener noreferrer';
      }
      item.appendChild(body);
    } else if (m.kind === 'file') {
      const anchor = el('a', 'chat-file-link', `${m.file.name} (${sizeText(m.file.size)})`);
      anchor.dataset.fileId = m.file.file_id;
      anchor.download = m.file.name;
      anchor.rel = 'noopener noreferrer';
      const button = el('button', 'chat-download', 'Download');
      button.type = 'button';
      button.disabled = m.available === false;
      button.addEventListener('click', () => this.download(m.file, anchor));
      item.append(anchor, button);
    } else {
      item.appendChild(el('p', 'chat-text', m.text));
    }
    return item;
  }

  renderThreads() {
    const options = [[CONSULTATION, 'Consultation']];
    const known = new Set([CONSULTATION]);
    const add = (thread, label) => {
      if (known.has(thread)) return;
      known.add(thread);
      options.push([thread, label]);
    };
    for (const person of this.waiting.values()) add(`waiting:${person.identity}`, `${person.name} (waiting)`);
    for (const thread of this.log.threads.keys()) {
      const first = (this.log.threads.get(thread) || []).find((m) => m.sender.role === 'client' || m.sender.role === 'guest');
      add(thread, `${first ? first.sender.name : thread.slice('waiting:'.length)} (waiting room)`);
    }
    this.threadSelect.replaceChildren(...options.map(([value, label]) => {
      const unread = this.log.unread.get(value) || 0;
      const option = el('option', null, unread ? `${label} — ${unread} new` : label);
      option.value = value;
      return option;
    }));
    this.threadSelect.value = this.thread;
  }

  /** Staff: each waiting person's unread count and a button to their thread, in the queue panel. */
  decorateQueue() {
    if (!this.staff) return;
    for (const item of this.room.elements.panel.querySelectorAll('li.wr-entry')) {
      const person = [...this.waiting.values()].find((p) => p.participant_id === item.dataset.participantId);
      if (!person) continue;
      const thread = `waiting:${person.identity}`;
      const unread = this.log.unread.get(thread) || 0;
      let button = item.querySelector('.chat-queue-button');
      if (!button) {
        button = el('button', 'chat-queue-button', '');
        button.type = 'button';
        button.addEventListener('click', () => {
          this.setOpen(true);
          this.show(thread);
        });
        item.querySelector('.wr-actions')?.prepend(button);
      }
      const text = unread ? `Chat (${unread} new)` : 'Chat';
      if (button.textContent !== text) button.textContent = text;
      button.dataset.unread = String(unread);
    }
  }

  /** The queue panel re-renders itself on every update: put the chat buttons back each time. */
  watchQueuePanel() {
    const observer = new MutationObserver(() => this.decorateQueue());
    observer.observe(this.room.elements.panel, { childList: true });
  }
}

/**
 * Entry point called by room.js.
 * @param {import('./room-extensions.js').RoomApi} room
 */
export function install(room) {
  return new ChatPanel(room);
}
