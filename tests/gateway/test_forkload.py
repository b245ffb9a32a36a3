"""``run_forked``: the site file loaded in a child gives the same config; failures are the
parent's own (gateway/forkload.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gateway.forkload import run_forked
from occmon.run import load_checked

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"


def where(tag: str) -> tuple[str, int, dict[str, list[float]]]:
    return tag, os.getpid(), {"values": [1.5, -0.0, 1e300]}


def test_the_result_is_computed_in_a_child_and_received_whole() -> None:
    assert threading.active_count() == 1  # else run_forked runs in-process (tested below)
    tag, pid, body = run_forked(where, "x")
    assert (tag, body) == ("x", {"values": [1.5, -0.0, 1e300]})
    assert pid != os.getpid()


def test_the_demo_site_loads_the_same_through_the_child() -> None:
    assert run_forked(load_checked, DEMO) == load_checked(DEMO)


def refuse(message: str) -> None:
    raise ValueError(message)


def test_an_error_is_raised_here_by_the_same_code() -> None:
    with pytest.raises(ValueError, match=r"^bad site: key points\.0\.id$"):
        run_forked(refuse, "bad site: key points.0.id")


def unpicklable(tag: str) -> object:
    return lambda: (tag, os.getpid())  # a lambda does not pickle: computed here instead


def test_a_result_that_does_not_pickle_is_computed_here() -> None:
    made = run_forked(unpicklable, "y")
    assert made() == ("y", os.getpid())  # type: ignore[operator]


def test_with_another_thread_running_it_does_not_fork() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert run_forked(where, "z")[1] == os.getpid()
    finally:
        stop.set()
        thread.join()
