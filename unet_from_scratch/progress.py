"""A one-line text progress bar with an ETA, for training epochs, validation and prediction."""

import sys
import time


class ProgressBar:
    """``epoch 3/10 [#######.....] 35/50 loss 0.412 31 img/s ETA 0:12`` on one redrawn line.

    Inputs:
        total: the number of steps.
        label: the text before the bar.
        stream: where to draw (None: draw nothing).
        delay: seconds to wait before the first drawing, so that work shorter than that
            (a quick validation) leaves no line behind.
    The ETA is the elapsed time per finished step times the steps left.
    """

    def __init__(self, total, label, stream=sys.stderr, width=24, delay=0.0):
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.delay = delay
        self.start = time.perf_counter()
        self.enabled = stream is not None
        self.drawn = False

    def update(self, done, images, loss=None):
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay:
            return
        filled = int(self.width * done / max(1, self.total))
        rate = images / max(1e-9, elapsed)
        bar = "#" * filled + "." * (self.width - filled)
        loss_text = "" if loss is None else f" loss {loss:.4f}"
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}{loss_text} "
                          f"{rate:.0f} img/s ETA {format_eta(elapsed, done, self.total)}")
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.enabled and self.drawn:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def format_eta(elapsed, done, total):
    """The time left, ``m:ss`` (or ``h:mm:ss``), from ``elapsed`` seconds for ``done`` of
    ``total`` steps; ``?`` before the first step."""
    if done <= 0:
        return "?"
    seconds = round(elapsed / done * max(0, total - done))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def progress_stream(progress):
    """stderr when a progress bar was asked for and someone is watching (a terminal);
    None in logs and pipes, where the redrawn line would only be noise."""
    return sys.stderr if progress and sys.stderr.isatty() else None
