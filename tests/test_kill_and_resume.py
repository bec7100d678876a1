"""SIGKILL a training process at random moments: every checkpoint left on disk loads, and
``--resume`` finishes with the same final weights as an uninterrupted run, bit for bit."""

import glob
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from unet_from_scratch import train
from unet_from_scratch.model import UNet

EPOCHS = 20
TINY = ["--size", "32", "--train-images", "16", "--val-images", "4", "--base-channels", "4",
        "--depth", "2", "--batch", "8", "--quiet", "--epochs", str(EPOCHS)]
KILLS = 5


def start(out, resume):
    argv = [sys.executable, "-u", "-m", "unet_from_scratch", "train", *TINY, "--out", out]
    return subprocess.Popen(argv + (["--resume"] if resume else []), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def kill_at_a_random_moment(process, rng):
    """Let the run finish 0 to 2 more epochs, wait up to 60 ms more, then SIGKILL it; True
    if it was still running (a kill, possibly in the middle of writing a checkpoint)."""
    epochs = rng.randint(0, 2)
    while epochs:
        line = process.stdout.readline()
        if not line:
            break
        epochs -= line.startswith("epoch ")
    time.sleep(rng.uniform(0, 0.06))
    killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return killed


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    # a fresh scenario each run; a failing one is replayed with UNET_KILL_SEED=<its seed>
    seed = int(os.environ.get("UNET_KILL_SEED") or random.SystemRandom().randrange(10 ** 6))
    rng = random.Random(seed)
    out = str(tmp_path / "killed")
    kills, attempts = 0, 0
    while kills < KILLS:
        attempts += 1                    # a run that keeps ending on its own must not loop forever
        assert attempts <= 4 * KILLS, f"seed {seed}: the run kept ending before it could be killed"
        resume = os.path.isfile(os.path.join(out, "checkpoint.last.npz"))
        kills += kill_at_a_random_moment(start(out, resume), rng)
        for path in glob.glob(os.path.join(out, "*.npz")):   # not the hidden temporary files
            train.load_checkpoint(path)
    last = os.path.join(out, "checkpoint.last.npz")
    assert train.load_checkpoint(last)[2]["epoch"] < EPOCHS, f"seed {seed}: ran out of epochs"
    finish = start(out, resume=True)
    finish.communicate()
    assert finish.returncode == 0, f"seed {seed}"
    leftovers = [name for name in os.listdir(out) if name.endswith(".tmp.npz")]
    assert leftovers == [], f"temporary files of killed writers left behind (seed {seed})"

    reference = str(tmp_path / "reference")         # in a process of its own, as the others
    uninterrupted = start(reference, resume=False)
    uninterrupted.communicate()
    assert uninterrupted.returncode == 0
    resumed, _, meta = train.load_checkpoint(last)
    expected = train.load_checkpoint(os.path.join(reference, "checkpoint.last.npz"))[0]
    assert meta["epoch"] == EPOCHS
    for name, value in expected.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value,
                                      err_msg=f"{name} (kill seed {seed})")


def a_pid_no_process_has():
    """One past the largest process id the kernel hands out (Linux), else that of a process
    that has just ended (which the system could, rarely, give to a new one)."""
    try:
        with open("/proc/sys/kernel/pid_max") as pid_max:
            return int(pid_max.read()) + 1
    except OSError:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        return gone.pid


def test_a_killed_writers_temporary_file_is_removed_by_the_next_save(tmp_path):
    path = str(tmp_path / "checkpoint.npz")
    stale = tmp_path / f".checkpoint.npz.{a_pid_no_process_has()}.tmp.npz"
    live = tmp_path / f".checkpoint.npz.{os.getppid()}.tmp.npz"    # its writer still runs
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    train.save_checkpoint(path, UNet(base_channels=2, depth=1), None, {"epoch": 1})
    assert not stale.exists() and live.exists()
    train.load_checkpoint(path)
