"""The engine-neutral page the browser tests drive: the same test runs in Chromium and Firefox.

Chromium goes through Playwright (tests/browser/engine_chromium.py), Firefox through WebDriver
(Selenium + geckodriver, tests/browser/engine_firefox.py): Playwright can only drive its own
patched Firefox build, which cannot be downloaded here. A test sees only `BrowserPage` and
`Engine`: open a URL, run a script (a JavaScript function expression taking one argument, awaited
when it returns a promise), wait until a script returns something truthy, click, read text and
attributes, choose in a <select>, press a key, take a screenshot, read the console errors.
Everything else (visibility, checked boxes) is built here from those, so both engines answer it
with the same JavaScript.

Both engines accept `confirm()` / `alert()` dialogs (the waiting room's "end the consultation").
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Literal

SelectorState = Literal["visible", "hidden", "attached", "detached"]

# Playwright's definition of visible: in the document, a non-empty box, not visibility:hidden.
SELECTOR_STATE_JS = """
([selector, state]) => {
  const el = document.querySelector(selector);
  const visible = !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'
    && (() => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; })();
  if (state === 'attached') return !!el;
  if (state === 'detached') return !el;
  if (state === 'hidden') return !visible;
  return visible;
}
"""


class BrowserPage(abc.ABC):
    """One tab with its own storage (a fresh browser context / user context)."""

    engine: str

    # --- what each engine implements ---
    @abc.abstractmethod
    async def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""

    @abc.abstractmethod
    async def evaluate(self, js: str, arg: Any = None) -> Any:
        """Call the function expression ``js`` with ``arg`` in the page; its (awaited) result."""

    @abc.abstractmethod
    async def wait_for(self, js: str, arg: Any = None, *, timeout_s: float = 30.0, what: str = "") -> Any:
        """Call ``js(arg)`` every 100 ms until it returns something truthy; that value.

        Raises AssertionError naming ``what`` (or the script) after ``timeout_s``.
        """

    @abc.abstractmethod
    async def click(self, selector: str, *, timeout_s: float = 30.0) -> None:
        """A real mouse click (a user gesture: getDisplayMedia and full screen need one)."""

    @abc.abstractmethod
    async def select(self, selector: str, value: str) -> None:
        """Choose the option with ``value`` in a <select>, as a person would (change event)."""

    @abc.abstractmethod
    async def press(self, key: Literal["Escape", "Enter", "Tab"]) -> None:
        """Press a key in the focused element."""

    @abc.abstractmethod
    async def screenshot(self, path: Path | str, *, full_page: bool = False) -> None: ...

    @property
    @abc.abstractmethod
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions of this page so far."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the tab and forget its storage."""

    # --- built on the above, the same on every engine ---
    async def wait_for_selector(self, selector: str, *, state: SelectorState = "visible", timeout_s: float = 30.0) -> None:
        await self.wait_for(SELECTOR_STATE_JS, [selector, state], timeout_s=timeout_s, what=f"{selector} {state}")

    async def is_visible(self, selector: str) -> bool:
        return bool(await self.evaluate(SELECTOR_STATE_JS, [selector, "visible"]))

    async def is_hidden(self, selector: str) -> bool:
        return not await self.is_visible(selector)

    async def text(self, selector: str) -> str:
        """The element's innerText (what a person reads)."""
        result = await self.evaluate(
            "(s) => { const el = document.querySelector(s); return el ? el.innerText : null; }", selector
        )
        if result is None:
            raise AssertionError(f"no element matches {selector}")
        return str(result)

    async def attribute(self, selector: str, name: str) -> str | None:
        result = await self.evaluate(
            "([s, n]) => { const el = document.querySelector(s); return el ? [el.getAttribute(n)] : null; }", [selector, name]
        )
        if result is None:
            raise AssertionError(f"no element matches {selector}")
        return None if result[0] is None else str(result[0])

    async def has_class(self, selector: str, name: str) -> bool:
        return bool(await self.evaluate(
            "([s, c]) => { const el = document.querySelector(s); return !!el && el.classList.contains(c); }", [selector, name]
        ))

    async def count(self, selector: str) -> int:
        return int(await self.evaluate("(s) => document.querySelectorAll(s).length", selector))

    async def is_checked(self, selector: str) -> bool:
        return bool(await self.evaluate("(s) => !!document.querySelector(s)?.checked", selector))

    async def check(self, selector: str) -> None:
        """Tick a checkbox by clicking it (nothing when it is ticked already)."""
        if not await self.is_checked(selector):
            await self.click(selector)
        await self.wait_for("(s) => !!document.querySelector(s)?.checked", selector, timeout_s=5, what=f"{selector} checked")


class Engine(abc.ABC):
    """A browser for one test: every page it opens is closed when the test ends."""

    name: str

    @abc.abstractmethod
    async def new_page(self, *, width: int = 1280, height: int = 720) -> BrowserPage: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every page this engine opened (and the browser, when it is the test's own)."""
