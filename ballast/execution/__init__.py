"""Running many training runs at once: in this process, in local processes, or as Ray tasks.

``ballast tune`` and ``ballast bench`` describe each run as a picklable job and hand it to an
:class:`~ballast.execution.executors.Executor`; the job trains in a private temporary folder and
returns its files as bytes, which the driver then publishes into the output folder in one rename
(:mod:`ballast.execution.folders`). So a run on another machine of a Ray cluster lands in the same
place as a local one, and a killed command never leaves a half-written run folder behind.
"""
