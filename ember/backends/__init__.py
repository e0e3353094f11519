"""``ember.backends``: the backend switches of ``torch.backends``, answered for ember.

ember computes with NumPy (and Numba) on the CPU: the CUDA, cuDNN and MPS backends are
never available, and neither are MKL, oneDNN (mkldnn) or OpenMP, which ember does not
link. The flags scripts set (``cudnn.benchmark``, ``cuda.matmul.allow_tf32``, ...) are
accepted and stored, with torch's defaults.
"""

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"]
