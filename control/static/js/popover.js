/**
 * popover.js — a button that opens a small menu (the room page's toolbar popovers): the button
 * toggles the menu, a click elsewhere or Escape closes it, and the button's `aria-expanded`
 * follows. The menu is an element that is `hidden` while closed. {@link toolbarMenu} builds
 * such a button and menu for a room extension.
 * @module popover
 */

/**
 * Wire `button` to open and close `menu`. Call `toggle(ev)` from the button's click handler.
 * @param {HTMLElement} button
 * @param {HTMLElement} menu
 * @param {object} [hooks]
 * @param {() => void} [hooks.onOpen]  runs just before the menu shows (render it there)
 * @param {() => HTMLElement|null} [hooks.focus]  the element to focus once it shows
 * @returns {{open: () => void, close: () => void, toggle: (ev?: Event) => void}}
 */
export function popover(button, menu, { onOpen = () => {}, focus = () => null } = {}) {
  button.setAttribute('aria-haspopup', 'true');
  button.setAttribute('aria-expanded', 'false');
  const control = {
    open() {
      onOpen();
      menu.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      const target = focus();
      if (target) target.focus();
    },
    close() {
      menu.hidden = true;
      button.setAttribute('aria-expanded', 'false');
    },
    /** @param {Event} [ev] */
    toggle(ev) {
      if (ev) ev.stopPropagation(); // the document's click listener would close it again
      if (menu.hidden) control.open();
      else control.close();
    },
  };
  document.addEventListener('click', (ev) => {
    const target = /** @type {Node|null} */ (ev.target);
    if (!menu.hidden && !menu.contains(target) && !button.contains(target)) control.close();
  });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') control.close(); });
  return control;
}

/**
 * A room extension's toolbar button with its popover menu (effects-panel.js, captions-panel.js):
 * the button goes into the toolbar (hidden until {@link setAllowed} says the room allows the
 * feature), the menu into the call view, and the button opens and closes it.
 * @param {import('./room-extensions.js').RoomApi} room
 * @param {object} spec
 * @param {string} spec.buttonId
 * @param {string} spec.label  the button's accessible name
 * @param {string} spec.buttonHtml  the button's content (an icon and a `.button-label`)
 * @param {string} spec.menuId
 * @param {string} spec.menuClass  added to `popover`
 * @param {() => void} [spec.onOpen]  runs just before the menu shows (render it there)
 * @param {() => HTMLElement|null} [spec.focus]  the element to focus once it shows
 * @returns {{button: HTMLButtonElement, menu: HTMLDivElement, open: () => void, close: () => void,
 *            toggle: (ev?: Event) => void, setAllowed: (allowed: boolean) => void}}
 */
export function toolbarMenu(room, { buttonId, label, buttonHtml, menuId, menuClass, onOpen, focus }) {
  const button = room.addToolbarButton({ id: buttonId, label, onClick: (ev) => control.toggle(ev) });
  button.innerHTML = buttonHtml;
  button.setAttribute('aria-label', label);
  button.hidden = true; // shown on `joined` when the room allows the feature
  const menu = document.createElement('div');
  menu.className = `popover ${menuClass}`;
  menu.id = menuId;
  menu.hidden = true;
  (room.elements.stage.closest('#call-view') || document.body).appendChild(menu);
  const control = popover(button, menu, { onOpen, focus });
  return {
    button,
    menu,
    ...control,
    setAllowed(allowed) {
      button.hidden = !allowed;
      if (!allowed) control.close();
    },
  };
}
