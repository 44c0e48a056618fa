"""What a worker process does to itself at start-up (`dspex_bridge.worker.process`): here, putting what it
imported out of the garbage collector's sight."""

from __future__ import annotations

import gc

import dspy  # noqa: F401 - what a worker imports before it freezes

from dspex_bridge.worker.process import freeze_what_was_imported


def test_what_was_imported_is_out_of_the_collectors_sight() -> None:
    tracked_before = len(gc.get_objects())
    try:
        freeze_what_was_imported()
        assert gc.get_freeze_count() >= tracked_before // 2, "DSPy's objects are frozen"
        # A collection now walks what was made since, not the imports.
        assert len(gc.get_objects()) < tracked_before // 10
        made_since = [[i] for i in range(1000)]
        assert len(gc.get_objects()) >= len(made_since)
    finally:
        gc.unfreeze()
    assert len(gc.get_objects()) >= tracked_before // 2
