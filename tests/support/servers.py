"""In-process servers and loops for tests: a uvicorn app in a thread, a coroutine (e.g. a
worker) on its own event loop in a thread. Both can always be stopped, or say why not."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from tests.support.ports import free_port

STOP_SECONDS = 45


class ThreadedServer:
    """A uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class LoopThread:
    """Runs one coroutine (e.g. a worker) on its own event loop in a thread; stop() cancels it."""

    def __init__(self, factory: Callable[[], Any]):
        self.loop = asyncio.new_event_loop()
        self.factory = factory
        self.task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self._has_task = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.factory())
        self._has_task.set()
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self.loop.close()

    def start(self) -> "LoopThread":
        self.thread.start()
        # Until the task exists, stop() would have nothing to cancel and the worker would run
        # on behind a test that stopped it (seen on CI: a message sent after stop_workers()).
        if not self._has_task.wait(timeout=10):
            raise RuntimeError("the loop thread did not start its task")
        return self

    def stop(self) -> None:
        if not self.task.done():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: nothing to cancel
                self.loop.call_soon_threadsafe(self.task.cancel)
        # A worker closes three pools, each waiting up to 5 s for a connection attempt under
        # way: on a loaded machine that alone has taken 15 s (CI).
        self.thread.join(timeout=STOP_SECONDS)
        if self.thread.is_alive():
            raise RuntimeError(f"the loop thread did not stop within {STOP_SECONDS} s of being cancelled")
