"""Run one `smsrelay …` process under pyinstrument and write its profile when it exits.

`python -m pyinstrument -m smsrelay` loses the profile when typer ends the process with
SystemExit after a SIGTERM; this wrapper writes it in a finally block instead.
Usage: python -m bench.profiled OUT.txt api --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from pyinstrument import Profiler


def main() -> None:
    out, args = Path(sys.argv[1]), sys.argv[2:]
    sys.argv = ["smsrelay", *args]
    # Wall-clock samples of the main thread: time in epoll is idle, the rest is CPU or waiting on
    # PostgreSQL, which is what the profile has to tell apart.
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler the process
    # would die before the finally block writes the profile.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        from smsrelay.cli import main as smsrelay_main

        smsrelay_main()
    except SystemExit:
        pass
    finally:
        profiler.stop()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
