"""The worker's garbage collector (authgate/worker.py, `collect_less_often`)."""

from __future__ import annotations

import gc

from authgate.worker import YOUNG_GENERATION_THRESHOLD, collect_less_often


def test_the_young_generation_is_collected_less_often_and_the_older_ones_as_before() -> None:
    before = gc.get_threshold()
    try:
        collect_less_often()
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, before[1], before[2])
        assert before[0] < YOUNG_GENERATION_THRESHOLD
        assert gc.isenabled()
    finally:
        gc.set_threshold(*before)
