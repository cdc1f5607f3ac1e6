/**
 * popover.js — a button that opens a small menu (the room page's toolbar popovers): the button
 * toggles the menu, a click elsewhere or Escape closes it, and the button's `aria-expanded`
 * follows. The menu is an element that is `hidden` while closed.
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
    toggle(ev) {
      if (ev) ev.stopPropagation(); // the document's click listener would close it again
      if (menu.hidden) control.open();
      else control.close();
    },
  };
  document.addEventListener('click', (ev) => {
    if (!menu.hidden && !menu.contains(ev.target) && !button.contains(ev.target)) control.close();
  });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') control.close(); });
  return control;
}
