"""The CPU's cores: a small pool of threads, and the BLAS library's own threads.

NumPy runs copies, element-wise arithmetic and matrix products without holding Python's GIL,
so plain Python threads can keep several cores busy.  The ops use that in two ways:

* **Inside one copy.**  im2col and col2im split a copy into slices of channels or images
  and run the slices at once (:func:`run_in_threads`).
* **Whole chunks of a convolution.**  The convolutions work through a batch a few images
  at a time.  On the CPU they hand the chunks to the threads, each thread unfolding its
  images and multiplying them on its own (:func:`run_in_threads` again).  Then the matrix
  products must run on one core each: the BLAS library (OpenBLAS, which NumPy's wheels
  ship) would otherwise start its own threads for every product, and those busy-wait for
  each other while our threads hold the cores.  :func:`one_blas_thread` sets OpenBLAS to
  one thread for the duration.

Why not leave the products to OpenBLAS's threads?  They split each product well, but every
product then waits for the slowest thread, the copies between products run on one core, and
a waiting OpenBLAS thread keeps spinning on a core that an im2col thread wants.  A training
step of the default network spent about a quarter of its matrix-product time waiting so.

When OpenBLAS's thread count cannot be set (a NumPy built on another BLAS, or a platform
where the library is not found), or when this process may use one core only,
:data:`BLAS_CONTROL` is None and the convolutions keep to one chunk at a time, each product
on the BLAS library's own threads, as before.

The results do not depend on how the threads happen to run: each thread always takes the
same chunks, and the per-thread parts of a sum (dW) are added in a fixed order.  They do
depend, in the last bits of dW, on the number of threads (:data:`THREADS`, from the cores
this process may use).
"""

import concurrent.futures
import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Threads that share the work on the CPU: one per core this process may run on, at most 4
# (copies are limited by memory bandwidth before that).
THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count() or 1))
# A convolution whose columns take fewer bytes than this, over the whole batch, keeps to one
# thread: handing chunks to threads costs tens of microseconds, and small copies spend
# most of their time in Python, which runs one thread at a time.
PARALLEL_BYTES = 2**22
_pool = None
_pool_lock = threading.Lock()
_inside = threading.local()          # .active: this thread is running parts of run_in_threads


def _forget_pool():
    """In a child made by fork the parent's threads do not exist: start a new pool, and give
    OpenBLAS back the thread count that a convolution running in the parent had taken away."""
    global _pool, _pool_lock, _blas_lock, _blas_users
    _pool, _pool_lock, _blas_lock = None, threading.Lock(), threading.Lock()
    if _blas_users > 0 and BLAS_CONTROL is not None:
        BLAS_CONTROL.set(_blas_saved)
    _blas_users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_in_threads(function, parts):
    """Call ``function(*part)`` for every part: the first in this thread, the others on the
    pool's threads; return when all are done (re-raising the first error).

    Never nested: called from inside a part (a convolution's chunk that runs im2col), it
    runs the parts one after the other in the calling thread, so a pool thread never waits
    for work queued behind itself.
    """
    if len(parts) < 2 or getattr(_inside, "active", False):
        for part in parts:
            function(*part)
        return
    futures = [_the_pool().submit(_as_part, function, part) for part in parts[1:]]
    try:
        _as_part(function, parts[0])
    finally:                         # never return while a part still runs, even on an error
        concurrent.futures.wait(futures)
    for future in futures:
        future.result()


def _the_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, THREADS - 1),
                                       thread_name_prefix="unet-cpu")
        return _pool


def _as_part(function, part):
    _inside.active = True
    try:
        function(*part)
    finally:
        _inside.active = False


def balanced_groups(items, sizes, parts):
    """``items`` in at most ``parts`` non-empty groups of about equal total size: each item,
    largest first, joins the group with the least so far.  A group keeps its items in their
    order.  Always the same groups for the same sizes."""
    totals = [0] * max(1, parts)
    members = [[] for _ in totals]
    for index in sorted(range(len(items)), key=lambda k: -sizes[k]):
        lightest = totals.index(min(totals))
        totals[lightest] += sizes[index]
        members[lightest].append(index)
    return [[items[k] for k in sorted(group)] for group in members if group]


class BlasThreads:
    """OpenBLAS's ``set_num_threads`` and ``get_num_threads``, found in the loaded library."""

    # The names differ by build: NumPy's wheels ship "scipy-openblas" with prefixed,
    # 64-bit-integer symbols; a system OpenBLAS has the plain names.
    NAMES = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
             ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
             ("openblas_set_num_threads", "openblas_get_num_threads")]

    def __init__(self, set_threads, get_threads):
        self.set = set_threads
        self.get = get_threads

    @classmethod
    def find(cls):
        """The loaded OpenBLAS's controls, or None when there is none to find."""
        for path in _openblas_paths():
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in cls.NAMES:
                if hasattr(library, set_name) and hasattr(library, get_name):
                    getter = getattr(library, get_name)
                    getter.restype = ctypes.c_int
                    setter = getattr(library, set_name)
                    setter.argtypes = [ctypes.c_int]
                    return cls(setter, getter)
        return None


def _openblas_paths():
    """Paths of the OpenBLAS libraries NumPy may use, NumPy's own first: those its wheels
    ship beside it, then those this process has mapped (Linux) whose path names NumPy, then
    the other mapped ones (SciPy ships its own OpenBLAS, which must not be taken for NumPy's)."""
    numpy_dir = os.path.dirname(np.__file__)
    paths = []
    for folder in (os.path.join(numpy_dir, "..", "numpy.libs"), os.path.join(numpy_dir, ".dylibs")):
        paths += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    mapped = []
    with contextlib.suppress(OSError):
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas" in os.path.basename(path).lower() and path not in mapped:
                    mapped.append(path)
    return paths + sorted(mapped, key=lambda path: "numpy" not in path)


def _blas_control():
    """:class:`BlasThreads` for NumPy's OpenBLAS, or None: never an error, whatever the
    platform (importing the package must not fail over a speed-up)."""
    try:
        config = np.show_config(mode="dicts")      # NumPy >= 1.26
        if "openblas" not in str(config.get("Build Dependencies", {})).lower():
            return None
    except Exception:                              # older NumPy: look for the library anyway
        pass
    try:
        return BlasThreads.find()
    except Exception:
        return None


BLAS_CONTROL = _blas_control() if THREADS > 1 else None
_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved = None


@contextlib.contextmanager
def one_blas_thread():
    """Run the body with OpenBLAS on one thread, then give it back its thread count.

    The setting is the whole process's; a counter lets calls from several threads overlap.
    Without :data:`BLAS_CONTROL` it does nothing.
    """
    global _blas_users, _blas_saved
    if BLAS_CONTROL is None:
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = BLAS_CONTROL.get()
            BLAS_CONTROL.set(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                BLAS_CONTROL.set(_blas_saved)


def chunk_workers(xp):
    """How many threads may share a convolution's chunks: :data:`THREADS` for NumPy arrays
    when OpenBLAS can be held to one thread, else 1 (CuPy arrays: the GPU does the work)."""
    return THREADS if xp is np and BLAS_CONTROL is not None else 1


def for_each_chunk(chunks, threads, body, xp=np):
    """Call ``body(images, worker)`` for every slice of images in ``chunks``.

    With one thread, in order, in this thread.  With more, thread ``worker`` takes chunks
    ``worker, worker + threads, ...`` (for a given ``threads``, always the same ones, so that
    a result summed per worker is summed the same way every time).

    For a batch of NumPy arrays (two images or more) OpenBLAS runs on one thread meanwhile,
    even when the chunks run in this thread alone: a product too small to share would
    otherwise wake OpenBLAS's threads, which then spin for a while on the cores that the
    next convolution's threads need.  A single image keeps OpenBLAS's threads, which then
    split each product (and im2col's threads split each copy).
    """
    batch = sum(images.stop - images.start for images in chunks)
    hold = one_blas_thread() if xp is np and batch > 1 else contextlib.nullcontext()
    with hold:
        if threads == 1:
            for images in chunks:
                body(images, 0)
            return

        def share(worker):
            for images in chunks[worker::threads]:
                body(images, worker)

        run_in_threads(share, [(worker,) for worker in range(threads)])
