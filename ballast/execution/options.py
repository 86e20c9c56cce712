"""Where and how the runs of ``tune`` and ``bench`` go: the options both commands share."""

from __future__ import annotations

from dataclasses import dataclass

from ballast.execution.executors import Executor, local_executor
from ballast.execution.ray_cluster import RayExecutor


@dataclass(frozen=True)
class RunSpec:
    """How one run trains and is evaluated, wherever it runs (part of every job)."""

    seed: int
    evals: int
    eval_episodes: int
    device: str
    threads: int | None
    argv: tuple[str, ...]


@dataclass
class ExecutionOptions:
    """``jobs`` runs at once, locally or as Ray tasks on the cluster at ``ray``, each asking for
    ``cpus_per_run`` CPUs (its torch threads too) and ``gpus_per_run`` GPUs, evaluated ``evals``
    times for ``eval_episodes`` episodes. ``argv`` is the command, recorded in each run folder."""

    jobs: int | None = None
    ray: str | None = None
    evals: int = 5
    eval_episodes: int = 5
    device: str = "auto"
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    argv: tuple[str, ...] = ()
    #: ``"mlflow"`` or ``"wandb"``: each finished run folder is sent there (:func:`ballast.tracking.track_run_folder`).
    track: str | None = None

    def executor(self) -> Executor:
        """The Ray executor with ``ray``, else the inline one (one job) or local processes."""
        if self.ray:
            return RayExecutor(self.ray, cpus=self.cpus_per_run, gpus=self.gpus_per_run, jobs=self.jobs)
        return local_executor(self.jobs or 1)

    def run_spec(self, seed: int) -> RunSpec:
        return RunSpec(seed=seed, evals=self.evals, eval_episodes=self.eval_episodes, device=self.device,
                       threads=max(1, int(self.cpus_per_run)), argv=self.argv)
