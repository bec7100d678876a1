"""Output paths, checked before any work: a run that cannot write its results says so at
once, naming the path as the user gave it, and a failed run leaves no empty folder behind.

    check_folder     a folder that exists and is writable, or can be created
    check_file       a file that can be written (its folder exists or can be created), and
                     does not exist unless ``force``
    OutputFolder     creates a folder for a run, and removes it again if the run fails
                     before writing anything into it
"""

import os

from .arguments import UsageError


def _nearest_existing(path):
    """The nearest folder above ``path`` (or ``path`` itself) that exists."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        current = os.path.dirname(current)
    return current


def check_folder(option, path, shown=None):
    """Refuse a folder ``path`` that is a file, or that cannot be written or created;
    ``shown`` is the path the user gave (for a file in that folder), default ``path``."""
    shown = shown or path
    if os.path.exists(path) and not os.path.isdir(path):
        what = "is a file, not a folder" if shown == path else f"cannot create it: {path} is a file"
        raise UsageError(f"{option} {shown}: {what}")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UsageError(f"{option} {shown}: cannot create it: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "cannot write into it" if existing == os.path.abspath(path) else \
            f"cannot create it: {existing} is not writable"
        raise UsageError(f"{option} {shown}: {what}")


def check_file(option, path, force=False, force_option="--force"):
    """Refuse a file ``path`` that cannot be written, or that exists and ``force`` is False."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if os.path.exists(path):
        if not force:
            raise UsageError(f"{option} {path}: exists; give {force_option} to replace it")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: exists and cannot be written")
    check_folder(option, os.path.dirname(path) or ".", shown=path)


class OutputFolder:
    """``with OutputFolder(path):`` creates ``path`` (and its parents) if missing; when the
    block raises and the folders it created are still empty, they are removed again."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.created = []

    def __enter__(self):
        missing, current = [], self.path
        while not os.path.exists(current):
            missing.append(current)
            current = os.path.dirname(current)
        os.makedirs(self.path, exist_ok=True)
        self.created = missing               # deepest first
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None:
            for folder in self.created:
                if os.path.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)
        return False
