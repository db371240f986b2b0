"""Summarise a `py-spy record -f raw` file: self and inclusive share of samples per function.

    py-spy record -p PID -d 20 -r 100 -f raw -o worker.txt
    uv run python -m bench.pyspy_summary worker.txt [TOP]

py-spy samples only what is on the CPU (unlike pyinstrument's async mode, which charges a
coroutine for the time it awaits), so this is where a process's CPU goes.
"""

from __future__ import annotations

import sys
from collections import Counter


def _name(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func file.py"
    if "(" not in frame:
        return frame
    func, _, where = frame.partition(" (")
    return f"{func} {where.split(':')[0].split('/')[-1]}"


def summarise(path: str, top: int = 25) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            total += n
            frames = stack.split(";")
            self_time[frames[-1]] += n
            for name in {_name(f) for f in frames}:
                inclusive[name] += n
    out = [f"total samples {total}", "--- self"]
    out += [f"{100 * v / total:5.1f}% {k[:150]}" for k, v in self_time.most_common(top)]
    out.append("--- inclusive")
    out += [f"{100 * v / total:5.1f}% {k[:150]}" for k, v in inclusive.most_common(top * 2)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25))
