"""The rl-baselines3-zoo's table, Ballast beside SB3 on the same seeds: every entry of the hyperparameter
files Ballast ships, at the zoo's budgets, evaluated the same way for both libraries.

Each (algorithm, env) cell of ``ballast/hyperparams/*.yml`` (the Atari, HER and recurrent entries
excepted: their budgets or their evaluation need more than this table runs) is trained by both
libraries on seeds ``0 .. --seeds - 1``: Ballast as ``ballast bench`` trains it, SB3 (sb3-contrib for
QR-DQN, TQC and CrossQ) with the same settings translated to its spelling (:func:`sb3_kwargs`: the
zoo's ``normalize`` becomes ``VecNormalize`` with the algorithm's ``gamma``, ``lin_`` schedules
callables, ``noise_type`` an action-noise object). Both are evaluated by Ballast's ``evaluate_policy``
on the same seeded episodes, deterministically, SB3's observations normalised with its frozen
``VecNormalize`` statistics (:class:`FrozenNormalization`), ``--evals`` times during training and once
at the end. Runs land in ``--out/<library>/runs/<run>/`` (``bench.json``, ``evaluations.csv``); a run
already there is not run again, so the table grows by seeds or cells over several invocations. The
cells Ballast ships an entry of its own for (``ballast/hyperparams/ballast/*.yml``: where the zoo's settings
fail on some seeds) are also trained with that entry, by both libraries, into ``--out/ballast-entries/``,
and get a row of their own below the zoo's.
``--max-steps`` caps the budgets this machine can afford; the table names the budget each cell ran.

The table (``--out/table.md``, and the section ``zoo-table`` of docs/benchmarks.md with ``--write-docs``)
gives per cell both libraries' final mean ± std, a bootstrap 95 % interval of the difference of the
means (Ballast - SB3), and the zoo's published figure (:data:`ZOO_PUBLISHED`).

    .venv-bench/bin/python benchmarks/zoo_table.py [--algos ppo a2c dqn] [--envs CartPole-v1] [--seeds 5]
        [--max-steps 200000] [--jobs 2] [--out runs/zoo-table] [--write-docs]
    .venv-bench/bin/python benchmarks/zoo_table.py --render --write-docs   # the table of every kept run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from common import ROOT, command_line, git_revision, machine, update_section

from ballast.bench.runs import RESULT_FILE, TRAINERS, BenchJob, BenchOutcome, run_bench_job, run_name
from ballast.bench.tables import write_tables
from ballast.execution.folders import publish_folder
from ballast.execution.options import RunSpec
from ballast.zoo import BALLAST_HYPERPARAMS, SHIPPED_HYPERPARAMS, ZooSettings, load_hyperparams

#: Files whose entries the table leaves out, and why.
SKIPPED_FILES = {"her.yml": "goal-conditioned (success rates: the HER sections)",
                 "ppo_lstm.yml": "recurrent (the RecurrentPPO sections)"}
#: The zoo's benchmark.md figures (mean return of its one trained agent), by (algorithm, env id); the zoo
#: ran Gymnasium's earlier versions (LunarLander-v2, MuJoCo -v3) of the envs named here.
ZOO_PUBLISHED = {
    ("a2c", "Acrobot-v1"): -83.4, ("a2c", "CartPole-v1"): 500.0, ("a2c", "MountainCar-v0"): -111.3,
    ("a2c", "MountainCarContinuous-v0"): 91.2, ("a2c", "Pendulum-v1"): -163.0, ("a2c", "LunarLander-v3"): 155.8,
    ("dqn", "Acrobot-v1"): -76.6, ("dqn", "CartPole-v1"): 500.0, ("dqn", "MountainCar-v0"): -100.8,
    ("dqn", "LunarLander-v3"): 154.4, ("ppo", "Acrobot-v1"): -73.5, ("ppo", "CartPole-v1"): 500.0,
    ("ppo", "MountainCar-v0"): -110.4, ("ppo", "MountainCarContinuous-v0"): 88.3, ("ppo", "Pendulum-v1"): -172.2,
    ("ppo", "LunarLander-v3"): 242.1, ("ppo", "LunarLanderContinuous-v3"): 270.9, ("ppo", "HalfCheetah-v5"): 5819.1,
    ("qrdqn", "Acrobot-v1"): -69.1, ("qrdqn", "CartPole-v1"): 500.0, ("qrdqn", "MountainCar-v0"): -106.0,
    ("qrdqn", "LunarLander-v3"): 70.2, ("sac", "Pendulum-v1"): -157.0, ("sac", "HalfCheetah-v5"): 9535.5,
    ("sac", "MountainCarContinuous-v0"): 94.7, ("sac", "LunarLanderContinuous-v3"): 260.4,
    ("td3", "Pendulum-v1"): -151.9, ("td3", "HalfCheetah-v5"): 9655.7, ("td3", "MountainCarContinuous-v0"): 93.5,
    ("td3", "LunarLanderContinuous-v3"): 207.5, ("tqc", "HalfCheetah-v5"): 12089.9,
    ("tqc", "LunarLanderContinuous-v3"): 278.0,
}
CONTRIB_ALGOS = {"qrdqn": "QRDQN", "tqc": "TQC", "crossq": "CrossQ"}
#: The subfolder of ``--out`` that holds the runs with Ballast's own entries (``hyperparams/ballast/``).
OWN_ENTRIES = "ballast-entries"
#: Where ``--write-docs`` puts the learning-curve figures (docs/benchmarks.md links them).
IMAGES = ROOT / "docs" / "images"


# --- SB3's side -----------------------------------------------------------------------------------
def sb3_kwargs(settings: ZooSettings, env: Any) -> dict[str, Any]:
    """Ballast's resolved settings in SB3's spelling (the normalisation keywords are the env's business)."""
    import torch
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    kwargs = {k: v for k, v in settings.kwargs.items()
              if k not in ("normalize_observations", "normalize_rewards", "env_kwargs")}
    for key, value in list(kwargs.items()):
        if isinstance(value, str) and value.startswith("lin_"):
            start = float(value[len("lin_"):])
            kwargs[key] = lambda progress, start=start: progress * start
        elif key == "train_freq" and isinstance(value, list):
            kwargs[key] = tuple(value)
    policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
    if isinstance(policy_kwargs.get("activation_fn"), str):
        policy_kwargs["activation_fn"] = getattr(torch.nn, policy_kwargs["activation_fn"].split(".")[-1])
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    if settings.noise is not None:
        size = int(np.prod(env.action_space.shape))
        noise = NormalActionNoise if settings.noise["type"] == "normal" else OrnsteinUhlenbeckActionNoise
        kwargs["action_noise"] = noise(mean=np.zeros(size), sigma=float(settings.noise["std"]) * np.ones(size))
    return kwargs


class FrozenNormalization:
    """An SB3 model seen through ``predict``, its observations normalised with the frozen statistics of
    its ``VecNormalize`` (as the zoo evaluates), so Ballast's ``evaluate_policy`` can run it."""

    def __init__(self, model: Any, vec_normalize: Any | None) -> None:
        self.model, self.vec_normalize = model, vec_normalize

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False) -> Any:
        if self.vec_normalize is not None:
            obs = self.vec_normalize.normalize_obs(obs)
        return self.model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)


def train_sb3(job: BenchJob) -> BenchOutcome:
    """Train ``job`` with SB3 (sb3-contrib for its algorithms) and evaluate as :func:`train_ballast` does."""
    import gymnasium as gym
    import stable_baselines3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import VecNormalize

    from ballast import evaluate_policy

    settings, spec = job.settings, job.run
    if settings.algorithm in CONTRIB_ALGOS:
        import sb3_contrib

        cls = getattr(sb3_contrib, CONTRIB_ALGOS[settings.algorithm])
    else:
        cls = getattr(stable_baselines3, settings.algorithm.upper())
    env = make_vec_env(settings.env_id, n_envs=settings.n_envs, seed=spec.seed,
                       env_kwargs=settings.kwargs.get("env_kwargs"))
    normalize = None
    if settings.kwargs.get("normalize_observations") or settings.kwargs.get("normalize_rewards"):
        normalize = env = VecNormalize(env, norm_obs=bool(settings.kwargs.get("normalize_observations")),
                                       norm_reward=bool(settings.kwargs.get("normalize_rewards")),
                                       gamma=float(settings.kwargs.get("gamma", 0.99)))
    model = cls(settings.policy, env, seed=spec.seed, device=spec.device, **sb3_kwargs(settings, env))
    log_dir = Path(tempfile.mkdtemp(prefix="zoo-table-sb3-"))
    model.set_logger(configure(str(log_dir), ["csv"]))  # progress.csv, the columns Ballast's runs log
    adapter = FrozenNormalization(model, normalize)
    every = max(1, int(settings.n_timesteps) // spec.evals)
    evaluations: list[tuple[int, float, float]] = []

    def evaluate() -> float:
        eval_env = gym.make(settings.env_id, **(settings.kwargs.get("env_kwargs") or {}))
        returns, _ = evaluate_policy(adapter, eval_env, n_eval_episodes=spec.eval_episodes, deterministic=True,
                                     seed=spec.seed, return_episode_rewards=True)
        return float(np.mean(returns)), float(np.std(returns))

    class Periodic(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next, self.eval_seconds = every, 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += every
                started = time.perf_counter()
                evaluations.append((self.num_timesteps, *evaluate()))
                self.eval_seconds += time.perf_counter() - started
            return True

    callback = Periodic()
    start = time.perf_counter()
    model.learn(int(settings.n_timesteps), callback=callback)
    seconds = time.perf_counter() - start - callback.eval_seconds
    final, _ = evaluate()
    best = max([final, *(mean for _, mean, _ in evaluations)])
    outcome = BenchOutcome(job.library, settings.algorithm, settings.env_id, job.seed, run_name(settings, job.seed),
                           final_eval=final, best_eval=best, num_timesteps=int(model.num_timesteps),
                           steps_per_second=model.num_timesteps / max(seconds, 1e-9))
    rows = ["timesteps,mean_reward,std_reward", *(f"{t},{m:.6g},{s:.6g}" for t, m, s in evaluations)]
    outcome.files["evaluations.csv"] = ("\n".join(rows) + "\n").encode("utf-8")
    model.logger.close()
    outcome.files["progress.csv"] = (log_dir / "progress.csv").read_bytes()
    shutil.rmtree(log_dir, ignore_errors=True)
    # What ``ballast plot`` reads to group a run folder (a Ballast run writes it with more).
    config = {"algorithm": settings.algorithm, "env_id": settings.env_id, "seed": job.seed, "library": "sb3"}
    outcome.files["config.json"] = json.dumps(config, indent=2).encode("utf-8")
    return outcome


def register() -> None:
    """Make ``"sb3"`` a library ``ballast bench``'s runner knows (in each worker process)."""
    TRAINERS["sb3"] = train_sb3


register()


def run_job(job: BenchJob) -> BenchOutcome:
    """:func:`ballast.bench.runs.run_bench_job` in a worker process, where this module registered ``"sb3"``."""
    register()
    return run_bench_job(job)


# --- the grid -------------------------------------------------------------------------------------
def cells(algos: list[str] | None, envs: list[str] | None, max_steps: int | None,
          folder: Path = SHIPPED_HYPERPARAMS) -> list[ZooSettings]:
    """The settings of every (algorithm, env) entry of the files in ``folder`` (the zoo's files Ballast
    ships, or :data:`BALLAST_HYPERPARAMS`, Ballast's own entries) the table covers, budgets capped at
    ``max_steps``."""
    import yaml

    out = []
    for path in sorted(Path(folder).glob("*.yml")):
        if path.name in SKIPPED_FILES or (algos and path.stem not in algos):
            continue
        for env_id in yaml.safe_load(path.read_text()) or {}:
            if env_id in ("atari", "default") or (envs and env_id not in envs):
                continue
            settings = load_hyperparams(path, env_id, path.stem)
            if settings.frame_stack or settings.env_wrappers:
                continue
            if max_steps is not None and settings.n_timesteps > max_steps:
                settings.n_timesteps = max_steps
            out.append(settings)
    return out


def run_grid(settings_list: list[ZooSettings], seeds: int, out: Path, jobs: int, evals: int, episodes: int) -> None:
    """Every missing run of the grid, both libraries, ``jobs`` at a time in fresh processes."""
    pending = []
    for settings in settings_list:
        for seed in range(seeds):
            for library in ("ballast", "sb3"):
                if not (out / library / "runs" / run_name(settings, seed) / RESULT_FILE).exists():
                    spec = RunSpec(seed=seed, evals=evals, eval_episodes=episodes, device="cpu", threads=1,
                                   argv=tuple(command_line().split()))
                    pending.append(BenchJob(library, settings, spec))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, max_tasks_per_child=1) as pool:
        for job, outcome in zip(pending, pool.map(run_job, pending)):
            publish_folder(outcome.files, out / job.library / "runs" / outcome.name)
            print(f"{job.library} {outcome.name}: final {outcome.final_eval}, error {outcome.error}", flush=True)


def kept_outcomes(out: Path, library: str) -> list[BenchOutcome]:
    runs = sorted((out / library / "runs").glob(f"*/{RESULT_FILE}"))
    return [BenchOutcome(**json.loads(path.read_text())) for path in runs]


def difference_interval(ours: list[float], theirs: list[float], resamples: int = 10_000) -> tuple[float, float]:
    """A bootstrap 95 % interval of ``mean(ours) - mean(theirs)`` (each library's seeds resampled)."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    diffs = (a[rng.integers(len(a), size=(resamples, len(a)))].mean(axis=1)
             - b[rng.integers(len(b), size=(resamples, len(b)))].mean(axis=1))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def table(out: Path, budgets: dict[tuple[str, str], int]) -> str:
    """The Markdown table of every cell both libraries have runs of, with the zoo's settings (``out``) and,
    below each, with Ballast's own entry (``out/OWN_ENTRIES``); ``budgets`` are the zoo's step budgets."""
    rows = ["| algorithm | env | steps run (zoo's) | seeds | Ballast final | SB3 final | 95 % CI of the difference | "
            "zoo |", "|---|---|---|---|---|---|---|---|"]
    per_seed = ["| algorithm | env | final per seed, Ballast / SB3 |", "|---|---|---|"]
    zoo_rows, own_rows = table_rows(out, budgets, ""), table_rows(out / OWN_ENTRIES, budgets, ", Ballast's entry")
    for cell in sorted({*zoo_rows, *own_rows}):
        for found in (zoo_rows.get(cell), own_rows.get(cell)):
            if found is not None:
                rows.append(found.summary)
                per_seed.append(found.per_seed)
    missing = sorted(cell for cell in budgets if cell not in zoo_rows)
    not_run = [f"{algorithm} {env_id} ({budgets[(algorithm, env_id)]:,} steps)" for algorithm, env_id in missing]
    short = [f"{algorithm} {env_id} ({found.seeds} of {FULL_SEEDS})" for (algorithm, env_id), found
             in sorted(zoo_rows.items()) if found.seeds < FULL_SEEDS]
    partial = ([f"Run on fewer than {FULL_SEEDS} seeds so far (their other seeds not run yet): {'; '.join(short)}.", ""]
               if short else [])
    return "\n".join([*rows, "", "The seeds' spread, run by run:", "", *per_seed, "", *partial,
                      f"Not run yet ({len(not_run)} of the {len(budgets)} cells of the files Ballast ships, at the "
                      f"zoo's budgets): {'; '.join(not_run) if not_run else 'none'}."])


#: Seeds per cell that the table is complete with (the issue's "at least 5 seeds").
FULL_SEEDS = 5


class CellRows(NamedTuple):
    """One cell's summary row, its row of per-seed finals, and how many seeds both libraries ran."""

    summary: str
    per_seed: str
    seeds: int


def table_rows(out: Path, budgets: dict[tuple[str, str], int], label: str) -> dict[tuple[str, str], CellRows]:
    """Per (algorithm, env) both libraries have runs of in ``out`` (the algorithm named with ``label``): its
    :class:`CellRows`."""
    ours = {(o.algorithm, o.env_id, o.seed): o for o in kept_outcomes(out, "ballast") if o.error is None}
    theirs = {(o.algorithm, o.env_id, o.seed): o for o in kept_outcomes(out, "sb3") if o.error is None}
    rows = {}
    for algorithm, env_id in sorted({(a, e) for a, e, _ in ours} & {(a, e) for a, e, _ in theirs}):
        seeds = sorted(s for a, e, s in ours if (a, e) == (algorithm, env_id) and (a, e, s) in theirs)
        a = [float(ours[(algorithm, env_id, s)].final_eval) for s in seeds]
        b = [float(theirs[(algorithm, env_id, s)].final_eval) for s in seeds]
        low, high = difference_interval(a, b)
        steps = ours[(algorithm, env_id, seeds[0])].num_timesteps
        zoo = ZOO_PUBLISHED.get((algorithm, env_id))
        budget = budgets.get((algorithm, env_id))
        rows[(algorithm, env_id)] = CellRows(
            f"| {algorithm}{label} | {env_id} | {steps:,} ({'?' if budget is None else f'{int(budget):,}'}) | "
            f"{len(seeds)} | {np.mean(a):.1f} ± {np.std(a):.1f} | {np.mean(b):.1f} ± {np.std(b):.1f} | "
            f"[{low:.1f}, {high:.1f}] | {'' if zoo is None else f'{zoo:.1f}'} |",
            f"| {algorithm}{label} | {env_id} | "
            + "; ".join(f"seed {seed}: {x:.1f} / {y:.1f}" for seed, x, y in zip(seeds, a, b)) + " |", len(seeds))
    return rows


LIBRARY_NAMES = {"ballast": "Ballast", "sb3": "SB3"}


def learning_curves(out: Path, images: Path) -> list[Path]:
    """One ``ballast plot`` figure per env into ``images`` (``zoo-table-<env>.png``): the training return
    (``rollout/ep_rew_mean``: the mean of the last 100 training episodes, as both libraries log it) of
    each (algorithm, library) over steps, the mean over seeds with a 95 % bootstrap band; the runs with
    Ballast's own entries as groups of their own. Runs without a ``progress.csv`` (SB3 runs made
    before the table logged one) are left out of the figures, not of the table."""
    from ballast.plotting import load_curve, plot_curves

    by_env = defaultdict(list)
    for folder, entry in ((out, ""), (out / OWN_ENTRIES, " (Ballast's entry)")):
        for library, name in LIBRARY_NAMES.items():
            for progress in sorted((folder / library / "runs").glob("*/progress.csv")):
                if not (progress.parent / "config.json").is_file():
                    continue
                curve = load_curve(progress.parent)
                if curve is not None:
                    curve.algorithm = f"{curve.algorithm.upper()}{entry}, {name}"
                    by_env[curve.env_id].append(curve)
    images.mkdir(parents=True, exist_ok=True)
    return [plot_curves(curves, images / f"zoo-table-{env_id}.png") for env_id, curves in sorted(by_env.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="*")
    parser.add_argument("--envs", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--evals", type=int, default=5)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-table")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--render", action="store_true", help="run nothing: the table of every kept run")
    args = parser.parse_args()
    if not args.render:
        run_grid(cells(args.algos, args.envs, args.max_steps), args.seeds, args.out, args.jobs, args.evals,
                 args.eval_episodes)
        run_grid(cells(args.algos, args.envs, args.max_steps, BALLAST_HYPERPARAMS), args.seeds,
                 args.out / OWN_ENTRIES, args.jobs, args.evals, args.eval_episodes)
    for folder in (args.out, args.out / OWN_ENTRIES):
        for library in ("ballast", "sb3"):
            write_tables(folder / library, kept_outcomes(folder, library))
    figures = learning_curves(args.out, IMAGES if args.write_docs else args.out / "figures")
    unlogged = sum(not (run.parent / "progress.csv").is_file() for folder in (args.out, args.out / OWN_ENTRIES)
                   for run in (folder / "sb3" / "runs").glob(f"*/{RESULT_FILE}"))
    body = "\n".join([
        "## The zoo's table: Ballast beside SB3 on the same seeds",
        "",
        f"Final deterministic evaluation over {args.eval_episodes} seeded episodes (the same episodes for both "
        "libraries; SB3's "
        "`VecNormalize` statistics frozen), mean ± std over seeds; the interval is a bootstrap 95 % interval of "
        "Ballast's mean minus SB3's; zoo: the zoo's benchmark.md (one agent, earlier env versions). A row "
        "\"Ballast's entry\" trains both libraries with Ballast's own settings for that cell "
        "(`hyperparams/ballast/`), shipped where the zoo's fail on some seeds; the comment above each entry says "
        "what it changes and why.",
        "",
        table(args.out, {(c.algorithm, c.env_id): int(c.n_timesteps) for c in cells(None, None, None)}),
        "",
        "Learning curves, one figure per env (`ballast plot`'s): the training return each library logs "
        "(`rollout/ep_rew_mean`, the mean of the last 100 training episodes, with exploration noise and, in "
        "SB3's case, read before normalisation), mean over seeds with a 95 % bootstrap band; the legend gives the "
        "number of runs in each curve"
        + (f" ({unlogged} SB3 runs made before the table logged its progress are in the table, not in the figures)."
           if unlogged else "."),
        "",
        *(f"![{figure.stem.removeprefix('zoo-table-')}]({figure.parent.name}/{figure.name})" for figure in figures),
        "",
        f"Command: `{command_line()}` (revision {git_revision()})"
        + (", from the runs of `zoo_table.py --algos ALGO --envs ENV --seeds 5 --jobs 2 --evals 2 --eval-episodes 20`"
           " per cell" if args.render else "") + ".  ",
        f"Machine: {machine(threads=1)}.",
    ])
    (args.out / "table.md").write_text(body + "\n")
    print(body)
    if args.write_docs:
        update_section("zoo-table", body)


if __name__ == "__main__":
    main()
