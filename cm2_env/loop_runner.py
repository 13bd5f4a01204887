"""Run coroutines to completion from sync code: the private event loop behind ``reset``/``step``."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Finalise async generators (LLM clients close their HTTP pools that way), then close the loop."""
    if loop.is_closed() or loop.is_running():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # collected while another loop runs in this thread: it cannot run ours; just close it
        loop.close()
        return
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


class LoopRunner:
    """Runs coroutines to completion from sync code, on a private loop (or a thread if one is running)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize | None = None

    def run(self, coro: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                # an env nobody closes still releases its loop (and the HTTP pools bound to it)
                self._finalizer = weakref.finalize(self, _close_loop, self._loop)
            return self._loop.run_until_complete(coro)
        # called from inside a running loop (e.g. Jupyter): run on a helper thread's own loop
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(coro)
            except BaseException as e:  # re-raised in the caller's thread
                box["error"] = e

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
