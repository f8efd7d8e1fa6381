"""Best-effort control of the OpenBLAS thread count (no threadpoolctl needed).

The tensor fit multiplies many thin matrices; OpenBLAS worker threads spin
after each call and steal the CPU from the element-wise numpy work, so the fit
runs faster with one BLAS thread (it parallelises over voxel chunks instead).
If no OpenBLAS library is found (MKL, Accelerate, other platforms) this does
nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

_LOCK = threading.Lock()
_LIBS = None
_SET_NAMES = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GET_NAMES = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _find_libs():
    global _LIBS
    if _LIBS is not None:
        return _LIBS
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded)

    found = []
    paths = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6 and "openblas" in parts[-1].lower():
                    if parts[-1] not in paths:
                        paths.append(parts[-1])
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = getter = None
        for name in _SET_NAMES:
            if hasattr(lib, name):
                setter = getattr(lib, name)
                break
        for name in _GET_NAMES:
            if hasattr(lib, name):
                getter = getattr(lib, name)
                break
        if setter is not None and getter is not None:
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
            getter.restype = ctypes.c_int
            found.append((setter, getter))
    _LIBS = found
    return found


_DEPTH = 0
_SAVED: list = []


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Context manager limiting OpenBLAS to ``n`` threads while any caller is
    inside it (reference-counted, so concurrent pipelines in one process
    restore the original setting only when the last one leaves)."""
    global _DEPTH, _SAVED
    with _LOCK:
        libs = _find_libs()
        if _DEPTH == 0:
            _SAVED = [g() for _, g in libs]
            for s, _ in libs:
                s(int(n))
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for (s, _), o in zip(libs, _SAVED):
                    s(int(o))


def for_each_block(work, starts, n_threads: int = 1) -> None:
    """Call ``work(start)`` for every start, on ``n_threads`` threads (numpy releases the GIL in the
    heavy parts), or in this thread when there is one."""
    if n_threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n_threads) as ex:
            list(ex.map(work, starts))
    else:
        for start in starts:
            work(start)
