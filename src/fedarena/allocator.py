"""Keep freed memory for reuse in the processes that run cells (glibc's ``mallopt``).

glibc serves an allocation above 32 MB with a fresh ``mmap`` and unmaps it when freed, so
every round's (clients x shared parameters) update matrix (62 MB for 100 MovieLens clients
under FedMF, 414 MB for all 671) is faulted in page by page again: a third of a FedMF cell
went to the kernel zeroing pages (``benchmarks/fedmf_epoch.py``). ``reuse_freed_memory``
turns ``mmap`` off for allocations and keeps up to 2 GB of freed memory instead of returning
it, so the next round's matrix reuses the last one's pages. It changes where memory comes
from, never what is computed (tested: a run gives the same bits with it). Process-wide, so
only fedarena's own processes call it: a matrix cell's worker and ``fedarena run``, never
the library on import.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # glibc's malloc.h: free memory kept at the top of the heap
M_MMAP_MAX = -4  # glibc's malloc.h: how many allocations may be served by mmap
KEPT_FREE_BYTES = 2**31 - 1  # the largest threshold mallopt's int accepts


def reuse_freed_memory() -> bool:
    """Serve every allocation from the heap and keep freed memory for reuse; ``False`` where
    the C library has no ``mallopt`` (not glibc: macOS, musl), which is left as it is."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_FREE_BYTES))
