"""Benchmarks: how fast is our U-Net, on the CPU and on a GPU, and how does it compare with PyTorch?

Run them from the repository root:

    unet-scratch bench                         # = bench train: one training step
    unet-scratch bench train --repeats 10 --batch 4
    unet-scratch bench train --device cuda
    unet-scratch bench ops

(``python -m unet_from_scratch.bench ...`` is the same as ``unet-scratch bench ...``.)

``train`` (the default) times one **training step** of the U-Net -- forward, loss (soft Dice
by default), backward, Adam update.  On the CPU it times the three configurations users run
(:data:`.processes.CPU_CONFIGURATIONS`): the main job's network and batch (base 8, depth 3,
8 x 1 x 64 x 64), the ISBI run's (base 16, depth 4, 16 x 1 x 128 x 128) and the default network
(``UNet()``: base 32, depth 4, padding "same", 7,759,521 parameters) on 8 x 1 x 96 x 96;
``--batch``, ``--size``, ``--base-channels`` or ``--depth`` pick one instead.  By default each
contender runs in a Python process of its own (``--method processes``), ours and PyTorch's
alternating, ``--runs`` pairs per configuration (3): each pair gives a ratio, and the median
ratio is printed with the smallest and largest (:mod:`.processes`); ``--method blocks`` times
both in one process, one block after the other.  When
PyTorch is importable, an identical PyTorch U-Net holding the same weights takes the same step
on the same batch, with the same loss written in torch ops and ``torch.optim.Adam`` with the
same learning rate, in the same run.  The table gives the median time per step, images per
second, the peak memory of one step, each row's time over PyTorch's, and the loss of the first
step of each -- equal up to rounding, a check that the two compute the same thing.  Under it,
our time over PyTorch's against the project's goal: within 1.5x of PyTorch on the CPU.

``train --device cuda`` times the same step on the GPU, by default at two batches,
32 x 1 x 128 x 128 and 32 x 1 x 96 x 96 (``--batch`` or ``--size`` picks one instead): ours on
the hand-written CUDA kernels (``backend.gpu_path_set("kernels")``), ours as the plain
NumPy-style code on CuPy arrays (``gpu_path_set("cupy")``), and PyTorch (cuDNN) on the same GPU
when it has CUDA.  TF32 is off on both sides (``CUPY_TF32=0``; PyTorch's ``allow_tf32`` off for
matrix products and cuDNN), and the header prints these settings with the GPU, CUDA, cuDNN,
CuPy and PyTorch versions.  Under each table: ours (kernels) / PyTorch against the project's
goal, training at PyTorch's speed (at most 1x), and plain CuPy / ours (kernels), for
information.

``ops`` times the ops the U-Net spends its time in, at the shapes a U-Net on 96x96 images meets
(batch 8, NCHW, on the CPU):

    conv2d 3x3, padding 1       1->32 at 96x96, 32->32 at 96x96, 64->64 at 48x48, 256->512 at 12x12
    conv_transpose2d 2x2, s 2   512->256, 12x12 -> 24x24
    max_pool2d 2x2              32 channels, 96x96 -> 48x48

What the numbers mean:

* Each time is the **median** of ``--repeats`` runs, after ``--warmup`` runs that are not
  counted (the first runs pay for allocating memory and waking up thread pools).  The
  median, not the mean, so that one run disturbed by the operating system does not move the
  result.  Timings on a small shared machine move by tens of percent from run to run:
  compare the ratio over a few runs, not one number.
* On a CPU a time is wall-clock time (``time.perf_counter``); on a GPU, the time between two
  CUDA events recorded around the step (``cupy.cuda.Event`` for ours, ``torch.cuda.Event``
  for PyTorch), because a call only queues work on the GPU.  One timer interface serves both
  (:mod:`.timer`).
* Each contender is timed in a block of its own, never alternating single steps with
  another: NumPy's BLAS threads and PyTorch's OpenMP threads keep spinning for a moment after
  each call, and alternating them makes each steal the other's cores.  On the CPU each block
  runs in a fresh process by default, and each run's line shows the CPU time per step of all
  the process's threads and the load average: OpenBLAS's threads wait for each other by
  spinning, so when another program holds a core a step can take many times longer and burn
  CPU time doing it -- a run whose "cpu ms" is far above its wall time met that.
* Peak memory is the largest amount of memory a step holds *on top of* what was allocated
  before it (weights, gradients and Adam's moments, the batch): activations, caches and
  temporaries.  Ours with ``tracemalloc`` on the CPU (it includes the caches our layers keep
  until the next forward pass replaces them) and the growth of CuPy's memory pool on a GPU;
  PyTorch's from the allocation events of ``torch.profiler`` on the CPU and
  ``max_memory_allocated`` on a GPU (:mod:`.memory`).  Both keep their gradients from step
  to step and zero them in place.
* In ``ops``, "fwd" is the forward pass alone; "fwd+bwd" is one forward pass followed by the
  backward pass with a fixed upstream gradient -- what one training step costs for that op.
* On the CPU, our convolutions share their chunks of images among one thread per core,
  each matrix product on one core (:mod:`unet_from_scratch.ops.threads`); NumPy's other
  matrix products use its BLAS library with as many threads as that library chose (set
  ``OPENBLAS_NUM_THREADS`` before starting Python to change it).  PyTorch is given as many
  threads as NumPy's BLAS has, when that can be found out (with ``threadpoolctl``, or from
  OpenBLAS itself), so the comparison is fair.

PyTorch is **optional**, and torch is imported only when a comparison with it runs.  When it
is installed, the same ops and the same step are timed in PyTorch in the same run: the ratio
ours/PyTorch (2.0x means we take twice as long), and in ``ops`` the largest absolute
difference between our forward output and PyTorch's -- a sanity check that the two compute
the same thing (in float32 expect about 1e-6 to 1e-5, the rounding of sums of a few thousand
products).  Without PyTorch those columns say "-".

The modules:

    environment   versions, threads, processor, GPU; TF32 off; the header's environment lines
    timer         one timer interface: perf_counter on a CPU, CUDA events on a GPU
    memory        peak memory of a step, ours and PyTorch's
    ops           the op benchmark (``bench ops``)
    steps         the training-step benchmark (``bench train``), CPU and GPU alike
    processes     ``bench train`` on the CPU: each contender in processes of its own
    twin          the PyTorch twin: network, losses, training step, ops (the one that imports torch)
    report        the configuration headers, the tables and the ratio lines
    command       the ``bench`` command's options and the functions that run it
"""

from .ops import run_ops_benchmark
from .steps import make_batch, run_train_benchmark, train_configurations

__all__ = ["run_ops_benchmark", "run_train_benchmark", "train_configurations", "make_batch"]
