"""``bench.thread_share`` counts CPU time per thread: a step that only the main thread runs
(a NumPy product at one BLAS thread) is all main thread, ``total / main`` 1."""

import numpy as np

from bench import thread_share
from ember.ops._blas import _blas_libs


def test_serial_step_is_all_main_thread():
    _blas_libs()  # NumPy's BLAS at one thread: the product runs on the calling thread
    a = np.random.default_rng(0).standard_normal((300, 300))
    total, main = thread_share.share(lambda: a @ a, 0.3)
    assert main > 0 and abs(total / main - 1) < 0.2
