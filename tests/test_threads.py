"""The CPU's threads: the pool never nests, OpenBLAS is held to one thread while a
convolution's chunks share the cores and gets its thread count back, and the convolutions
give the loops' numbers (and the same bits every time) whichever way their chunks run."""

import importlib
import threading
import time

import numpy as np
import pytest

from unet_from_scratch import ops, reference

THREADS = importlib.import_module("unet_from_scratch.ops.threads")
CONV2D = importlib.import_module("unet_from_scratch.ops.conv2d")
IM2COL = importlib.import_module("unet_from_scratch.ops.im2col")


def test_an_error_in_a_pool_thread_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(THREADS, "THREADS", 2)

    def fail_on_second(part):
        if part == 1:
            raise RuntimeError("part 1 failed")

    with pytest.raises(RuntimeError, match="part 1 failed"):
        THREADS.run_in_threads(fail_on_second, [(0,), (1,)])


def test_run_in_threads_waits_for_every_part_even_when_the_first_fails(monkeypatch):
    """An error (or Ctrl-C) in this thread's part must not return while another thread is
    still writing into the caller's arrays."""
    monkeypatch.setattr(THREADS, "THREADS", 2)
    finished = []

    def part(index):
        if index == 0:
            raise RuntimeError("part 0 failed")
        time.sleep(0.2)
        finished.append(index)

    with pytest.raises(RuntimeError, match="part 0 failed"):
        THREADS.run_in_threads(part, [(0,), (1,)])
    assert finished == [1]


def test_run_in_threads_inside_a_part_runs_in_that_thread(monkeypatch):
    """A part that splits its own work (a chunk running im2col) does it itself: with one pool
    thread, queueing it would wait forever behind the part that waits for it."""
    monkeypatch.setattr(THREADS, "THREADS", 2)
    seen = []

    def inner(part, caller):
        seen.append((part, threading.get_ident() == caller))

    def outer(part):
        THREADS.run_in_threads(inner, [(part * 10 + k, threading.get_ident()) for k in range(3)])

    runner = threading.Thread(target=THREADS.run_in_threads, args=(outer, [(0,), (1,)]))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "run_in_threads nested inside a part hung"
    assert sorted(seen) == [(k, True) for k in (0, 1, 2, 10, 11, 12)]


def test_for_each_chunk_gives_every_chunk_once_and_always_to_the_same_worker():
    chunks = [slice(k, k + 1) for k in range(7)]
    for threads in (1, 2, 3):
        seen = []
        THREADS.for_each_chunk(chunks, threads, lambda images, worker: seen.append((images.start, worker)))
        assert sorted(seen) == [(k, k % threads) for k in range(7)]


needs_blas_control = pytest.mark.skipif(THREADS.BLAS_CONTROL is None,
                                        reason="OpenBLAS's thread count cannot be set here")


@pytest.fixture
def openblas_on_two_threads():
    """OpenBLAS set to two threads for the test, then given back its thread count."""
    before = THREADS.BLAS_CONTROL.get()
    THREADS.BLAS_CONTROL.set(2)
    yield
    THREADS.BLAS_CONTROL.set(before)


@needs_blas_control
def test_one_blas_thread_holds_openblas_to_one_thread_then_gives_it_back(openblas_on_two_threads):
    control = THREADS.BLAS_CONTROL
    with THREADS.one_blas_thread():
        assert control.get() == 1
        with THREADS.one_blas_thread():              # overlapping users: still one
            assert control.get() == 1
        assert control.get() == 1
    assert control.get() == 2


def blas_threads_seen(monkeypatch, x):
    """``(threads sharing the chunks, OpenBLAS's thread count)`` for every chunk of a
    convolution of ``x``, recorded from inside the chunks."""
    seen = []
    original = THREADS.for_each_chunk

    def spy(chunks, threads, body, xp):
        def watched(images, worker):
            seen.append((threads, THREADS.BLAS_CONTROL.get()))
            body(images, worker)
        original(chunks, threads, watched, xp)

    monkeypatch.setattr(CONV2D, "for_each_chunk", spy)
    ops.conv2d_forward(x, np.ones((3, x.shape[1], 3, 3), dtype=x.dtype), padding=1)
    return seen


@needs_blas_control
@pytest.mark.parametrize("parallel_bytes, threads", [(0, 2), (2**40, 1)])
def test_a_batch_runs_its_products_on_one_blas_thread(monkeypatch, openblas_on_two_threads,
                                                     parallel_bytes, threads):
    """Shared among two threads, or too small to share: OpenBLAS has one thread inside."""
    monkeypatch.setattr(THREADS, "THREADS", 2)
    monkeypatch.setattr(THREADS, "PARALLEL_BYTES", parallel_bytes)
    seen = blas_threads_seen(monkeypatch, np.ones((4, 2, 6, 6), dtype=np.float32))
    assert seen and all(entry == (threads, 1) for entry in seen), seen
    assert THREADS.BLAS_CONTROL.get() == 2


@needs_blas_control
def test_a_single_image_keeps_openblas_threads(monkeypatch, openblas_on_two_threads):
    monkeypatch.setattr(THREADS, "PARALLEL_BYTES", 0)
    assert blas_threads_seen(monkeypatch, np.ones((1, 2, 6, 6), dtype=np.float32)) == [(1, 2)]


def conv_results(x, w, dy_seed=1):
    y, cache = ops.conv2d_forward(x, w, padding=1)
    dy = np.random.default_rng(dy_seed).standard_normal(y.shape).astype(x.dtype)
    dx, dw, _ = ops.conv2d_backward(dy, cache)
    yt, cache_t = ops.conv_transpose2d_forward(x, w.transpose(1, 0, 2, 3).copy(), stride=2)
    dxt, dwt, _ = ops.conv_transpose2d_backward(np.ones_like(yt), cache_t)
    return [y, dx, dw, yt, dxt, dwt], (y, dy, dx, dw)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_convolutions_on_shared_chunks_match_the_loops_and_repeat_bit_for_bit(rng, monkeypatch, threads):
    """Small chunks so that every thread gets several; float64 against the loop definitions;
    a second run gives the same bits (each worker sums its own chunks, always the same)."""
    monkeypatch.setattr(THREADS, "THREADS", threads)
    monkeypatch.setattr(CONV2D, "chunk_workers", lambda xp: threads)          # also on 1 core
    monkeypatch.setattr(THREADS, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(IM2COL, "CHUNK_BYTES", 3000)
    x = rng.standard_normal((7, 3, 8, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    first, (y, dy, dx, dw) = conv_results(x, w)
    y_ref, cache_ref = reference.conv2d_forward(x, w, None, 1, 1)
    dx_ref, dw_ref, _ = reference.conv2d_backward(dy, cache_ref)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)
    second, _ = conv_results(x, w)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_scratch_buffers_are_reused_per_thread_and_name():
    IM2COL.release_scratch()
    first = IM2COL.scratch(np, "cols", np.float32, (4, 5))
    again = IM2COL.scratch(np, "cols", np.float32, (2, 3))
    other = IM2COL.scratch(np, "product", np.float32, (2, 3))
    assert again.base is first.base and other.base is not first.base
    assert again.flags.c_contiguous and again.shape == (2, 3)
    bigger = IM2COL.scratch(np, "cols", np.float32, (10, 10))            # grown
    assert bigger.shape == (10, 10) and bigger.base is not first.base
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(IM2COL.scratch(np, "cols", np.float32, (2, 3))))
    thread.start()
    thread.join()
    assert elsewhere[0].base is not bigger.base                          # another thread's own
    IM2COL.release_scratch()
    assert IM2COL.scratch(np, "cols", np.float32, (2, 3)).base is not bigger.base


def test_balanced_groups_share_the_sizes_evenly_and_keep_the_order():
    items = list("abcdef")
    groups = THREADS.balanced_groups(items, [9, 1, 5, 4, 3, 2], 2)
    assert sorted(sum(groups, [])) == items
    totals = [sum([9, 1, 5, 4, 3, 2][items.index(item)] for item in group) for group in groups]
    assert totals == [12, 12] and all(group == sorted(group) for group in groups)
    assert THREADS.balanced_groups(items[:1], [5], 3) == [["a"]]
    assert THREADS.balanced_groups([], [], 2) == []


@pytest.mark.parametrize("threads", [2, 3])
def test_adam_on_several_threads_gives_the_same_bits(monkeypatch, threads):
    from unet_from_scratch import optim
    from unet_from_scratch.model import UNet

    def trained(thread_count):
        monkeypatch.setattr(THREADS, "THREADS", thread_count)
        model = UNet(base_channels=4, depth=2, seed=3)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(0)
        for _ in range(3):
            for p in model.parameters():
                p.grad[...] = rng.standard_normal(p.grad.shape)
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    for one, many in zip(trained(1), trained(threads)):
        np.testing.assert_array_equal(one, many)


def test_a_thread_s_scratch_buffers_go_with_it():
    IM2COL.release_scratch()
    before = len(list(IM2COL._every_thread))
    thread = threading.Thread(target=lambda: IM2COL.scratch(np, "cols", np.float32, (1000,)))
    thread.start()
    thread.join()
    assert len(list(IM2COL._every_thread)) == before


@pytest.mark.parametrize("stride, padding", [(1, 1), (1, 3), (2, 1)])
def test_threads_sharing_a_large_batch_write_only_their_own_buffers(rng, monkeypatch, stride, padding):
    """Large enough for the threads to run at the same time: two threads give exactly one
    thread's y and dx (their images are their own), dw to rounding, and both threads ran.
    (Padding 3 > k - 1 takes the col2im way for dx; stride 2 too.)"""
    x = rng.standard_normal((8, 16, 64, 64)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32) * 0.1
    monkeypatch.setattr(THREADS, "PARALLEL_BYTES", 0)
    runners = set()
    original = THREADS.for_each_chunk

    def recording(chunks, threads, body, xp):
        def watched(images, worker):
            runners.add(threading.get_ident())
            body(images, worker)
        original(chunks, threads, watched, xp)

    monkeypatch.setattr(CONV2D, "for_each_chunk", recording)
    results = {}
    for threads in (1, 2):
        monkeypatch.setattr(THREADS, "THREADS", threads)
        monkeypatch.setattr(CONV2D, "chunk_workers", lambda xp, n=threads: n)   # also on 1 core
        runners.clear()
        y, cache = ops.conv2d_forward(x, w, stride=stride, padding=padding)
        dx, dw, _ = ops.conv2d_backward(np.ones_like(y), cache)
        results[threads] = (y, dx, dw, len(runners))
    assert results[1][3] == 1 and results[2][3] == 2
    np.testing.assert_array_equal(results[2][0], results[1][0])
    np.testing.assert_array_equal(results[2][1], results[1][1])
    np.testing.assert_allclose(results[2][2], results[1][2], rtol=1e-4, atol=1e-3)
