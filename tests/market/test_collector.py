"""The round's garbage-collector pause: nested and threaded pauses restore the old state."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from market.collector import paused_collection


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_nested_pauses_re_enable_only_after_the_outermost() -> None:
    with paused_collection():
        assert not gc.isenabled()
        with paused_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_pause_ended_by_an_error_still_re_enables() -> None:
    with pytest.raises(RuntimeError), paused_collection():
        raise RuntimeError("round failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with paused_collection():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.mark.usefixtures("collector_on")
def test_overlapping_pauses_from_two_threads() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_collection():
            inside.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=other)
    with paused_collection():
        thread.start()
        assert inside.wait(timeout=10)
    assert not gc.isenabled()  # the other thread's round is still running
    release.set()
    thread.join(timeout=10)
    assert gc.isenabled()


class _Node:
    """A cyclic object: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("collector_on")
def test_objects_made_in_a_pause_skip_the_young_scan_but_cycles_are_still_freed() -> None:

    with paused_collection():
        kept = [_Node() for _ in range(5_000)]
        garbage = _Node()
        probe = weakref.ref(garbage)
        del garbage
    assert gc.get_count()[0] < 100  # no young collection over the 5,000 is pending
    assert probe() is not None  # the cycle waits for a full collection, as promised
    gc.collect()
    assert probe() is None
    assert len(kept) == 5_000


@pytest.mark.usefixtures("collector_on")
def test_a_freeze_the_program_made_itself_is_kept() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_collection():
            _Node()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
