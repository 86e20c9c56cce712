"""Hyperparameter search with Optuna: ``ballast tune`` and its Python form.

    from ballast.tuning import TuneOptions, tune
    result = tune(TuneOptions("ppo", "CartPole-v1", trials=20, steps=20_000, out=Path("tune/ppo")))

- :mod:`~ballast.tuning.space`: search spaces (the zoo's ranges, overridable from YAML);
- :mod:`~ballast.tuning.study`: storage (journal file by default), sampler, pruner, resuming;
- :mod:`~ballast.tuning.trial`: one trial, wherever it runs, reporting evaluations to the pruner;
- :mod:`~ballast.tuning.tune`: the driver loop, locally or on Ray;
- :mod:`~ballast.tuning.results`: the best hyperparameters as a zoo file, the trials as CSV.

Optuna is the ``tune`` extra (``pip install "ballast-rl[tune]"``); it is imported when a study opens.
"""

from ballast.tuning.space import SearchSpace, load_search_space
from ballast.tuning.tune import TuneOptions, TuneResult, tune

__all__ = ["SearchSpace", "TuneOptions", "TuneResult", "load_search_space", "tune"]
