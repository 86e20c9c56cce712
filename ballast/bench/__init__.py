"""``ballast bench``: a grid of training runs (libraries x algorithms x envs x seeds) and a table of
their results, each run a normal run folder.

    from ballast.bench import BenchOptions, bench
    result = bench(BenchOptions(algorithms=["ppo"], env_ids=["CartPole-v1"], seeds=3, steps=10_000, out=Path("b")))

Which library trains a run is a parameter of the job (:data:`ballast.bench.runs.TRAINERS`), so the
same grid and table can later hold runs of another library with the same settings.
"""

from ballast.bench.grid import BenchOptions, BenchResult, bench
from ballast.bench.runs import TRAINERS, BenchJob, BenchOutcome, run_bench_job
from ballast.bench.stats import confidence_interval, t_quantile

__all__ = ["TRAINERS", "BenchJob", "BenchOptions", "BenchOutcome", "BenchResult", "bench", "confidence_interval",
           "run_bench_job", "t_quantile"]
