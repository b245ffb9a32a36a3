"""``gateway.heap.settle``: survivors frozen out of full passes; later garbage still collected.
In a fresh interpreter, since freezing this test process would keep its objects forever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, weakref
from gateway.heap import settle

class Node:
    pass

kept = [Node() for _ in range(1000)]
for a, b in zip(kept, kept[1:]):
    a.next, b.prev = b, a  # long-lived cycles, alive at the freeze
frozen = settle()
later = Node(); later.me = later  # a cycle made after the freeze, then dropped
gone = weakref.ref(later)
del later
gc.collect()
print(frozen >= 1000, gone() is None, gc.get_count()[2] == 0)
"""


def test_settle_freezes_the_living_and_later_cycles_are_still_collected() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"], done.stdout
