"""The command line, ``unet-scratch`` (also ``python -m unet_from_scratch``).

    command      main(): parses the arguments and runs a command; one line on stderr and
                 a non-zero exit status for a mistake, never a traceback
    parser       the argument parser of every command
    arguments    the argument types and UsageError, shared with the benchmarks' options
    outputs      output paths checked before any work; a failed run's empty folder removed
    data         the --data sources: synthetic, kaggle:, isbi2012:, folder:, FILE.npz
    train        unet-scratch train
    predict      unet-scratch predict and evaluate
    gradcheck    unet-scratch gradcheck
    extras       unet-scratch augment-preview and lessons

``unet-scratch bench`` is defined with the benchmarks, in :mod:`unet_from_scratch.bench.command`.

This file imports nothing, so that importing :mod:`.arguments` (as the benchmarks do) does not
pull in the whole command line.
"""
