"""``ember.backends.cpu``."""


def get_cpu_capability() -> str:
    """The SIMD level ember's own kernels are built for: NumPy and Numba choose at run
    time, so ember reports "DEFAULT"."""
    return "DEFAULT"
