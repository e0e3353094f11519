"""``ember.utils._warmup._all_threads``: while the warm-up runs its models a second time,
kernel calls of any size take the threaded variants (which its tiny models would not
reach otherwise, leaving them to compile in a real model's first or later step)."""

import numba
import pytest

import ember
from ember.ops import _kernels_norm, _kernels_transformer, _parallel
from ember.utils._warmup import _all_threads


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="Numba has one thread")
def test_all_threads_gives_small_calls_every_thread_and_restores():
    had = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        assert _kernels_norm._parts(8, 4) == 1 and _kernels_transformer._parts(8) == 1
        with _all_threads():
            assert _kernels_norm._parts(8, 4) == 2
            assert _kernels_transformer._parts(8) == 2
        assert _kernels_norm.threads_for is _parallel.threads_for
        assert _kernels_norm._parts(8, 4) == 1 and _kernels_transformer._parts(8) == 1
    finally:
        ember.set_num_threads(had)
