/**
 * room-extensions.js — the room page's extension point: optional modules next to this one
 * (the control plane's waiting room, the background-effects and captions menus, the chat) are loaded
 * when the server serves them, with their stylesheet, and get the {@link RoomApi}.
 *
 * An extension is `./<name>.js` exporting `install(room)`; `../css/<name>.css` is linked
 * first. One that fails to load is logged and skipped: the call works without it.
 * @module room-extensions
 */

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */

/** The optional modules, in the order they are installed (their toolbar buttons follow it). */
export const EXTENSIONS = ['waiting', 'effects-panel', 'captions-panel', 'chat-panel'];

/**
 * What an extension gets from the room page.
 * @typedef {object} RoomApi
 * @property {ConsultClient|null} client  the client once "Join" was pressed
 * @property {(fn: (client: ConsultClient) => void) => void} onClient  called when the client is
 *           created, before it connects (subscribe to `waiting` etc. there)
 * @property {{waiting: HTMLElement, panel: HTMLElement, toolbar: HTMLElement, stage: HTMLElement}} elements
 * @property {(name: string) => void} showView  prejoin | waiting | call | settings | message
 * @property {(title: string, body: string) => void} showMessage
 * @property {(spec: {id: string, label: string, icon?: string, onClick: (ev: MouseEvent) => void}) => HTMLButtonElement} addToolbarButton
 * @property {(text: string) => void} toast
 * @property {Record<string, any>} claims  the join token's claims (unverified: display only)
 * @property {(participantId: string) => HTMLElement|null} tileElement  a participant's camera tile
 * @property {{camera: MediaStreamTrack|null, microphone: MediaStreamTrack|null}} localTracks
 */

/**
 * Load every extension the server has and install it.
 * @param {RoomApi} api
 * @param {string[]} [names=EXTENSIONS]
 */
export async function loadExtensions(api, names = EXTENSIONS) {
  for (const name of names) {
    const url = new URL(`./${name}.js`, import.meta.url);
    try {
      const head = await fetch(url, { method: 'HEAD' });
      if (!head.ok) continue;
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = new URL(`../css/${name}.css`, import.meta.url).href;
      document.head.appendChild(css);
      const mod = await import(url.href);
      if (typeof mod.install === 'function') await mod.install(api);
    } catch (err) {
      console.warn(`extension ${name} failed to load`, err);
    }
  }
}

