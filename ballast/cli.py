"""The ``ballast`` command: train and evaluate from the shell.

    ballast train ppo CartPole-v1 --hyperparams hyperparams/ppo.yml --seed 0
    ballast eval runs/ppo_CartPole-v1_s0 --episodes 20
    ballast tune ppo CartPole-v1 --trials 20 --steps 20000 --out tune/   (ballast/cli_tune.py)
    ballast bench --algos ppo,a2c --envs CartPole-v1 --seeds 5 --out bench/   (ballast/cli_bench.py)

``train`` writes one folder per run (``model.zip``, ``config.json``, ``progress.csv``,
``eval.json``) so that a result can be traced to the exact settings and command that made it.
Each subcommand is one function taking the parsed arguments; errors Ballast raises on purpose
are printed as ``error: ...`` with exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ballast.aggregate_scores import markdown_table, parse_score_ranges
from ballast.algos.base import ALGORITHMS, Algorithm
from ballast.algos.base import load as load_model
from ballast.buffers.her import HerReplayBuffer
from ballast.callbacks import BaseCallback, SaveLatestCallback
from ballast.checkpoint import atomic_write_bytes
from ballast.envs.make import EnvLike, make_vector_env
from ballast.errors import BallastError, ConfigurationError
from ballast.evaluation import evaluate_policy
from ballast.logger import Logger
from ballast.plotting import load_curves, plot_aggregate_curves, plot_curves
from ballast.recording import VideoRecorderCallback, record_video
from ballast.schedules import CallableSchedule, ConstantSchedule, LinearSchedule, schedule_to_json
from ballast.tracking import TRACKERS, TrackerOutput, open_tracker
from ballast.version import __version__
from ballast.zoo import (
    HER,
    ZooSettings,
    chained_wrappers,
    default_settings,
    get_algorithm,
    load_hyperparams,
    parse_hyperparams,
    parse_overrides,
)

EXIT_OK = 0
EXIT_ERROR = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subparser per subcommand, each bound to its handler as ``handler``."""
    parser = argparse.ArgumentParser(prog="ballast", description="Train and evaluate Ballast agents.")
    parser.add_argument("--version", action="version", version=f"ballast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train_parser(sub)
    _add_eval_parser(sub)
    _add_export_parser(sub)
    _add_plot_parser(sub)
    _add_record_parser(sub)
    # Imported here: these modules use the run-folder functions below (train_in_run_dir, ...).
    from ballast.cli_bench import add_bench_parser
    from ballast.cli_tune import add_tune_parser

    add_tune_parser(sub)
    add_bench_parser(sub)
    return parser


def _add_train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train an agent and save it in a new run folder",
                       description="Train ALGO on ENV_ID, save the run in OUT/<algo>_<env>_s<seed> "
                                   "and evaluate it.")
    p.add_argument("algo", metavar="ALGO", help=f"algorithm name ({', '.join(sorted(ALGORITHMS))}), or her: the zoo's "
                   "her.yml, whose entries name their algorithm (model_class)")
    p.add_argument("env_id", metavar="ENV_ID", help="Gymnasium env id, e.g. CartPole-v1")
    p.add_argument("--steps", type=_positive_int, help="env steps to train (overrides n_timesteps)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (default: runs/)")
    p.add_argument("--hyperparams", type=Path, metavar="FILE.yml",
                   help="rl-baselines3-zoo style YAML file; without it the algorithm's defaults are used")
    p.add_argument("--n-envs", type=_positive_int, help="env copies (overrides n_envs of the file)")
    p.add_argument("--hyperparams-override", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="replace keys of the hyperparameter entry (or the defaults), e.g. learning_rate=3e-4 "
                        "n_steps=256 'policy_kwargs=dict(net_arch=[64, 64])'; values are read as YAML")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ... (default: auto)")
    p.add_argument("--eval-episodes", type=_non_negative_int, default=10,
                   help="deterministic evaluation episodes after training; 0 skips it (default: 10)")
    p.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="1 prints the training table")
    p.add_argument("--progress-bar", action="store_true", help="show a progress bar")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="keep RUN/checkpoint.zip up to date every N env steps (atomic writes)")
    p.add_argument("--checkpoint-replay-buffer", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the replay buffer (off-policy algorithms, HER's episodes included) in the checkpoint, so "
                        "that --resume continues the same run instead of refilling an empty buffer (default: on "
                        "for HerReplayBuffer runs, whose relabelling needs the stored episodes, off otherwise)")
    p.add_argument("--video-every", type=_positive_int, metavar="K",
                   help="record one deterministic episode every K env steps (and at the end) into RUN/videos/")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files into the run folder (the metrics of progress.csv, "
                        "and --video-every's recordings); pip install 'ballast-rl[tensorboard]'")
    p.add_argument("--track", choices=TRACKERS,
                   help="also log settings, metrics and files to MLflow (a local store in --out unless "
                        "MLFLOW_TRACKING_URI is set) or Weights & Biases (WANDB_MODE=offline works without a network)")
    p.add_argument("--resume", nargs="?", const="latest", metavar="RUN_DIR",
                   help="continue a run from its checkpoint.zip to its full step budget; without RUN_DIR, the "
                        "newest OUT/<algo>_<env>_s<seed>* folder that has a checkpoint")
    p.set_defaults(handler=cmd_train)


def _add_eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a saved model",
                       description="Run a saved model for a number of episodes and print the returns.")
    p.add_argument("path", metavar="RUN_OR_MODEL", type=Path,
                   help="a run folder (uses its model.zip) or a model file")
    p.add_argument("--episodes", type=_positive_int, default=20, help="episodes to run (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation env (default: 0)")
    p.add_argument("--env", metavar="ENV_ID", help="env id (default: the one the model was trained on)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of deterministic ones")
    p.add_argument("--device", default="auto", help="torch device (default: auto)")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(handler=cmd_eval)


def _add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a saved model to ONNX, TorchScript or MATLAB",
                       description="Write the whole observation-to-action path of a saved model into OUT, run the "
                                   "exported artifact against the model and report the largest difference.")
    p.add_argument("path", metavar="MODEL", type=Path, help="a run folder (uses its model.zip) or a model file")
    p.add_argument("--format", choices=("onnx", "torchscript", "matlab"), default="onnx",
                   help="artifact format (default: onnx)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the artifact, metadata and README into")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    p.add_argument("--function-name", default="policy_step", help="name of the MATLAB function (default: policy_step)")
    p.add_argument("--include-value", action="store_true", help="also output the value (or Q-values)")
    p.add_argument("--action-masks", action="store_true",
                   help="add an action_mask input (Discrete/MultiDiscrete actions; ONNX and TorchScript)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the parity check against the model (the metadata then says it was not checked)")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(handler=cmd_export)


def _add_plot_parser(sub: Any) -> None:
    p = sub.add_parser("plot", help="plot learning curves of run folders",
                       description="Learning curves of the run folders at or under the given paths: one panel per "
                                   "env, one colour per algorithm, the mean over seeds with a 95 %% bootstrap "
                                   "confidence band.")
    p.add_argument("paths", metavar="RUN_OR_FOLDER", type=Path, nargs="+", help="run folders or folders holding them")
    p.add_argument("--out", type=Path, required=True, help="the figure to write: .png, .svg or .pdf")
    p.add_argument("--x", choices=("steps", "time"), default="steps", help="x axis: env steps or seconds")
    p.add_argument("--smooth", type=_positive_int, default=1, help="trailing moving average over W logged points")
    p.add_argument("--metric", default="rollout/ep_rew_mean",
                   help="progress.csv column to plot (default: rollout/ep_rew_mean)")
    p.add_argument("--aggregate", type=Path, metavar="FILE",
                   help="also draw the algorithms' interquartile mean and mean of normalised final scores over all "
                        "envs, with stratified-bootstrap 95 %% intervals (as rliable), into FILE, and print them")
    p.add_argument("--score-range", action="append", default=[], metavar="ENV_ID=LOW:HIGH",
                   help="the scores that normalise to 0 and 1 on an env (default: the lowest and highest final "
                        "score among the runs on it); repeat per env")
    p.set_defaults(handler=cmd_plot)


def _add_record_parser(sub: Any) -> None:
    p = sub.add_parser("record", help="record a video of a saved model",
                       description="Run a saved model on its env, rendered, and write the frames to an MP4 or GIF.")
    p.add_argument("path", metavar="RUN_OR_MODEL", type=Path, help="a run folder (uses its model.zip) or a model file")
    p.add_argument("--out", type=Path, required=True, help="the video to write: .mp4 or .gif")
    p.add_argument("--episodes", type=_positive_int, default=1, help="episodes to record (default: 1)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="stochastic", action="store_false",
                      help="deterministic actions (the default)")
    mode.add_argument("--stochastic", action="store_true", help="sample actions")
    p.add_argument("--seed", type=int, default=0, help="seed of the env (default: 0)")
    p.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps, else 30)")
    p.add_argument("--env", metavar="ENV_ID", help="env id (default: the one the model was trained on)")
    p.add_argument("--device", default="auto", help="torch device (default: auto)")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(handler=cmd_record)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ballast`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    args.argv = argv
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return handler(args)
    except (BallastError, gym.error.Error) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR


# --- train -----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """``ballast train``: build from settings, train, save, evaluate, and say where everything went."""
    if args.resume is not None:
        return resume_train(args)
    settings = resolve_train_settings(args)
    model = settings.create_model(seed=args.seed, device=args.device, verbose=args.verbose)
    run_dir = new_run_dir(args.out, settings.algorithm, settings.env_id, args.seed)
    config = train_config(args, settings, model)
    config["checkpoint_every"] = args.checkpoint_every
    args.checkpoint_replay_buffer = keeps_replay_buffer(args, model)
    config["checkpoint_replay_buffer"] = args.checkpoint_replay_buffer
    write_json(run_dir / "config.json", config)
    return train_in_run_dir(model, settings, settings.n_timesteps, run_dir, args,
                            checkpoint_every=args.checkpoint_every)


def keeps_replay_buffer(args: argparse.Namespace, model: Algorithm) -> bool:
    """``--checkpoint-replay-buffer`` as given; without it, True for a model relabelling with HER (a resumed
    HER run without its episodes would start relabelling from an empty buffer)."""
    asked = getattr(args, "checkpoint_replay_buffer", None)
    if asked is not None:
        return bool(asked)
    return isinstance(getattr(model, "replay_buffer", None), HerReplayBuffer)


def resume_train(args: argparse.Namespace) -> int:
    """``ballast train ... --resume``: load the run's latest checkpoint and train to the full budget."""
    run_dir = find_resumable_run(args)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    cls = get_algorithm(config["algorithm"])
    settings = run_settings(config)
    model = cls.load(run_dir / "checkpoint.zip", env=settings.make_env(seed=args.seed, stack=False), device=args.device)
    model.verbose = args.verbose
    print(f"resuming {run_dir} at {model.num_timesteps} of {config['n_timesteps']} steps")
    checkpoint_every = args.checkpoint_every or config.get("checkpoint_every")
    asked = getattr(args, "checkpoint_replay_buffer", None)
    args.checkpoint_replay_buffer = bool(config.get("checkpoint_replay_buffer") if asked is None else asked)
    return train_in_run_dir(model, settings, int(config["n_timesteps"]), run_dir, args,
                            checkpoint_every=checkpoint_every, resume=True)


def run_settings(config: dict[str, Any]) -> ZooSettings:
    """The settings a run folder's config.json recorded: what to rebuild its env from."""
    return ZooSettings(algorithm=config["algorithm"], env_id=config["env_id"], n_envs=int(config.get("n_envs") or 1),
                       kwargs=dict(config.get("settings") or {}),
                       env_wrappers=[(name, kwargs) for name, kwargs in config.get("env_wrappers") or []],
                       frame_stack=config.get("frame_stack"),
                       vec_env_wrappers=[(name, kwargs) for name, kwargs in config.get("vec_env_wrappers") or []],
                       callbacks=[(name, kwargs) for name, kwargs in config.get("callbacks") or []])


def find_resumable_run(args: argparse.Namespace) -> Path:
    """The run folder named by ``--resume``, or the newest matching one under ``--out`` with a checkpoint."""
    if args.resume != "latest":
        run_dir = Path(args.resume)
    else:
        safe_env = re.sub(r"[^A-Za-z0-9._-]+", "-", args.env_id)
        algorithm = "*" if args.algo.lower() == HER else get_algorithm(args.algo).algorithm_name
        pattern = f"{algorithm}_{safe_env}_s{args.seed}*"
        candidates = [p for p in Path(args.out).glob(pattern) if (p / "checkpoint.zip").is_file()]
        if not candidates:
            raise ConfigurationError(f"no run folder {Path(args.out) / pattern} with a checkpoint.zip to resume")
        run_dir = max(candidates, key=lambda p: (p / "checkpoint.zip").stat().st_mtime)
    for needed in ("config.json", "checkpoint.zip"):
        if not (run_dir / needed).is_file():
            raise ConfigurationError(f"{run_dir} has no {needed}, so it cannot be resumed")
    return run_dir


def train_in_run_dir(model: Algorithm, settings: ZooSettings, n_timesteps: int, run_dir: Path,
                     args: argparse.Namespace, *, checkpoint_every: int | None, resume: bool = False,
                     callbacks: Sequence[BaseCallback] = ()) -> int:
    """Train ``model`` up to ``n_timesteps`` in total, save it in ``run_dir``, evaluate, print the files.
    ``callbacks`` run during training too (``tune`` and ``bench`` evaluate through one); with ``--track``,
    the run's settings, metrics and files also go to MLflow or W&B."""
    model.logger = Logger(run_dir, verbose=args.verbose, tensorboard=bool(getattr(args, "tensorboard", False)))
    tracker = open_tracker(args.track, args.out, run_dir.name) if getattr(args, "track", None) else None
    if tracker is not None:
        tracker.log_params(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
        model.logger.output_formats.append(TrackerOutput(tracker))
    try:
        files, result = _train_save_evaluate(model, settings, n_timesteps, run_dir, args,
                                             checkpoint_every=checkpoint_every, resume=resume, callbacks=callbacks)
    except BaseException:
        if tracker is not None:
            tracker.finish(failed=True)
        raise
    if tracker is not None:
        if result is not None:
            tracker.log_metrics({"eval/mean_reward": result["mean_reward"], "eval/std_reward": result["std_reward"]},
                                model.num_timesteps)
        for path in files.values():
            tracker.log_artifact(path)
        tracker.finish()
    print(f"run folder: {run_dir}")
    for name, path in files.items():
        print(f"  {name + ':':<12}{path}")
    if tracker is not None:
        print(f"  {'tracked:':<12}{tracker.name} run {run_dir.name}")
    return EXIT_OK


def _train_save_evaluate(model: Algorithm, settings: ZooSettings, n_timesteps: int, run_dir: Path,
                         args: argparse.Namespace, *, checkpoint_every: int | None, resume: bool,
                         callbacks: Sequence[BaseCallback]) -> tuple[dict[str, Path], dict[str, Any] | None]:
    """The run itself: learn (with the given callbacks and the checkpoint and video ones asked for),
    save, evaluate. The entry's own ``callback`` items come first."""
    callbacks = [*settings.make_callbacks(run_dir), *callbacks]
    if checkpoint_every:
        with_buffer = bool(getattr(args, "checkpoint_replay_buffer", False))
        callbacks.append(SaveLatestCallback(checkpoint_every, run_dir / "checkpoint.zip",
                                            include_replay_buffer=with_buffer))
    if getattr(args, "video_every", None):
        wrapper = chained_wrappers(settings.env_wrappers) if settings.env_wrappers else None
        callbacks.append(VideoRecorderCallback(settings.env_id, args.video_every, run_dir / "videos", seed=args.seed,
                                               env_kwargs=settings.kwargs.get("env_kwargs"), wrapper=wrapper))
    remaining = n_timesteps - model.num_timesteps if resume else n_timesteps
    try:
        if remaining > 0:
            model.learn(remaining, callback=callbacks, progress_bar=args.progress_bar, reset_num_timesteps=not resume)
    finally:
        model.logger.close()
    model_path = model.save(run_dir / "model.zip")
    files = {"model": model_path, "config": run_dir / "config.json"}
    for name in ("progress.csv", "checkpoint.zip", "videos"):
        if (run_dir / name).exists():
            files[name.split(".")[0]] = run_dir / name
    print(f"trained {model.algorithm_name.upper()} on {settings.env_id} for {model.num_timesteps} steps")
    result = None
    if args.eval_episodes > 0:
        result = evaluate(model, settings.env_id, args.eval_episodes, args.seed, deterministic=True,
                          env_kwargs=settings.kwargs.get("env_kwargs"), settings=settings)
        files["eval"] = write_json(run_dir / "eval.json", {**result, "num_timesteps": model.num_timesteps})
        print(format_result(result))
    return files, result


def resolve_train_settings(args: argparse.Namespace) -> ZooSettings:
    """The file's settings (or the algorithm's defaults) with the command-line overrides applied."""
    overrides = parse_overrides(getattr(args, "hyperparams_override", None) or [])
    if args.algo.lower() == HER:  # the zoo's her.yml: each entry names its algorithm
        settings = load_hyperparams(args.hyperparams or "her.yml", args.env_id, HER, overrides)
    elif args.hyperparams is not None:
        settings = load_hyperparams(args.hyperparams, args.env_id, get_algorithm(args.algo), overrides)
    elif overrides:
        settings = parse_hyperparams(overrides, args.env_id, get_algorithm(args.algo),
                                     source=f"--hyperparams-override {' '.join(args.hyperparams_override)}")
    else:
        settings = default_settings(get_algorithm(args.algo), args.env_id)
    if args.steps is not None:
        settings.n_timesteps = args.steps
    if args.n_envs is not None:
        settings.n_envs = args.n_envs
    if settings.n_timesteps is None:
        if args.hyperparams is None:
            raise ConfigurationError("no step budget: give --steps N or --hyperparams FILE with n_timesteps")
        raise ConfigurationError(f"{settings.source} has no n_timesteps: give --steps N")
    return settings


def new_run_dir(out: Path, algorithm: str, env_id: str, seed: int | None) -> Path:
    """Create and return ``out/<algo>_<env>_s<seed>``, or the same name with ``_2``, ``_3``, ... if taken."""
    safe_env = re.sub(r"[^A-Za-z0-9._-]+", "-", env_id)
    base = f"{algorithm}_{safe_env}_s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = out / (base if n == 1 else f"{base}_{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise ConfigurationError(f"{out} already holds 10000 runs named {base}*; choose another --out")


def train_config(args: argparse.Namespace, settings: ZooSettings, model: Algorithm) -> dict[str, Any]:
    """What config.json records: the command, the settings as given, and the values the model resolved."""
    return {
        "command": ["ballast", *args.argv],
        "ballast_version": __version__,
        "algorithm": settings.algorithm,
        "env_id": settings.env_id,
        "seed": args.seed,
        "device": str(model.device),
        "n_timesteps": settings.n_timesteps,
        "n_envs": settings.n_envs,
        "policy": settings.policy,
        "hyperparams_file": None if args.hyperparams is None else str(args.hyperparams),
        "hyperparams_entry": settings.source,
        "settings": settings.kwargs,
        "env_wrappers": [[name, kwargs] for name, kwargs in settings.env_wrappers],
        "frame_stack": settings.frame_stack,
        "vec_env_wrappers": [[name, kwargs] for name, kwargs in settings.vec_env_wrappers],
        "callbacks": [[name, kwargs] for name, kwargs in settings.callbacks],
        "resolved": {
            "hyperparameters": resolved_hyperparameters(model),
            "policy": model.policy_name,
            "policy_config": model.policy_config.to_json(),
            "normalize_observations": model.policy.normalizer is not None,
            "normalize_rewards": model.reward_normalizer is not None,
        },
    }


def resolved_hyperparameters(model: Algorithm) -> dict[str, Any]:
    """The model's hyperparameter dataclass as JSON data, schedules as their JSON form."""
    if not dataclasses.is_dataclass(model.config):
        return {}
    out = {}
    for f in dataclasses.fields(model.config):
        value = getattr(model.config, f.name)
        if isinstance(value, (ConstantSchedule, LinearSchedule, CallableSchedule)):
            value = schedule_to_json(value, 1.0)
        out[f.name] = value
    return out


# --- eval ------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    """``ballast eval``: load a model, run it, print the returns."""
    model_path = resolve_model_path(args.path)
    model = load_model(model_path, device=args.device)
    env_id, env_kwargs, settings = eval_env_of(model, model_path, args.env)
    result = evaluate(model, env_id, args.episodes, args.seed, deterministic=not args.stochastic,
                      env_kwargs=env_kwargs, settings=settings)
    print(f"model: {model_path} ({model.algorithm_name.upper()}, {model.num_timesteps} training steps)")
    print(format_result(result))
    print("episode returns: " + " ".join(f"{r:.2f}" for r in result["episode_rewards"]))
    return EXIT_OK


# --- plot and record -------------------------------------------------------------------------
def cmd_plot(args: argparse.Namespace) -> int:
    """``ballast plot``: learning curves of run folders into one figure (and aggregate scores into another)."""
    if args.score_range and args.aggregate is None:
        raise ConfigurationError("--score-range normalises the scores of --aggregate; give --aggregate FILE too")
    ranges = parse_score_ranges(args.score_range)
    curves = load_curves(args.paths, args.metric)  # read once for both figures
    out = plot_curves(curves, args.out, x=args.x, smooth=args.smooth, metric=args.metric)
    print(f"plotted {len(curves)} runs into {out}")
    if args.aggregate is not None:
        aggregate_out, results = plot_aggregate_curves(curves, args.aggregate, ranges=ranges)
        print(f"aggregate scores over envs into {aggregate_out}:")
        print(markdown_table(results))
    return EXIT_OK


def cmd_record(args: argparse.Namespace) -> int:
    """``ballast record``: a video of a saved model acting on the env it was trained on."""
    model_path = resolve_model_path(args.path)
    model = load_model(model_path, device=args.device)
    env_id, env_kwargs, settings = eval_env_of(model, model_path, args.env)
    wrapper = chained_wrappers(settings.env_wrappers) if settings is not None and settings.env_wrappers else None
    out, returns = record_video(model, env_id, args.out, episodes=args.episodes, deterministic=not args.stochastic,
                                seed=args.seed, fps=args.fps, env_kwargs=env_kwargs, wrapper=wrapper)
    print(f"recorded {len(returns)} episodes of {model_path} on {env_id} into {out}")
    print("episode returns: " + " ".join(f"{r:.2f}" for r in returns))
    return EXIT_OK


# --- export ----------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """``ballast export``: load a model and export it, with the parity check unless --no-check."""
    model_path = resolve_model_path(args.path)
    model = load_model(model_path, device="cpu")
    out = model.export(args.out, format=args.format, opset=args.opset, check=not args.no_check,
                       function_name=args.function_name, include_value=args.include_value,
                       action_masks=args.action_masks)
    print(f"exported {model_path} ({model.algorithm_name.upper()}) as {args.format} to {out}")
    for path in sorted(Path(out).iterdir()):
        print(f"  {path}")
    return EXIT_OK


def eval_env_of(model: Algorithm, model_path: Path, env_id: str | None
                ) -> tuple[str, dict[str, Any] | None, ZooSettings | None]:
    """The env to run a saved model on: ``env_id`` or the model's own, with the model's ``env_kwargs`` and,
    in a run folder, the run's settings (its env wrappers) when the env is the one it was trained on."""
    env_id = env_id or model.env_id
    if not env_id:
        raise ConfigurationError(f"{model_path} does not record the env it was trained on; pass --env ENV_ID")
    if env_id != model.env_id:
        return env_id, None, None
    config_path = model_path.parent / "config.json"
    settings = run_settings(json.loads(config_path.read_text(encoding="utf-8"))) if config_path.is_file() else None
    return env_id, model.env_kwargs, settings


def resolve_model_path(path: Path) -> Path:
    """A run folder's ``model.zip``, or the model file itself (``.zip`` may be left out)."""
    if path.is_dir():
        model_path = path / "model.zip"
        if not model_path.is_file():
            raise ConfigurationError(f"{path} is a folder without model.zip; give a run folder or model file")
        return model_path
    if path.is_file():
        return path
    with_zip = path.with_name(path.name + ".zip")
    if with_zip.is_file():
        return with_zip
    raise ConfigurationError(f"{path} does not exist; give a run folder or a model file")


# --- shared ----------------------------------------------------------------------------------
def evaluate(model: Algorithm, env_id: str, episodes: int, seed: int | None, *, deterministic: bool,
             env_kwargs: dict[str, Any] | None = None, settings: ZooSettings | None = None) -> dict[str, Any]:
    """Run :func:`ballast.evaluate_policy` and return its result as JSON data. With the run's
    ``settings``, the env is built as for training (its ``env_wrapper``s, with a ``Monitor`` inside
    them that scores whole episodes); the model re-applies the frame stacking it recorded."""
    env: EnvLike = make_vector_env(env_id, 1, env_kwargs=env_kwargs) if env_kwargs else env_id
    if settings is not None and (settings.env_wrappers or settings.vec_env_wrappers):
        env = settings.make_env(n_envs=1, seed=seed, stack=False)
    returns, lengths = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=deterministic,
                                       seed=seed, return_episode_rewards=True)
    return {
        "env_id": env_id,
        "n_eval_episodes": episodes,
        "deterministic": deterministic,
        "seed": seed,
        "mean_reward": float(np.mean(returns)),
        "std_reward": float(np.std(returns)),
        "episode_rewards": [float(r) for r in returns],
        "episode_lengths": [int(n) for n in lengths],
    }


def format_result(result: dict[str, Any]) -> str:
    mode = "deterministic" if result["deterministic"] else "stochastic"
    return (f"mean return {result['mean_reward']:.2f} ± {result['std_reward']:.2f} over "
            f"{result['n_eval_episodes']} episodes ({mode}, seed {result['seed']})")


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return path


if __name__ == "__main__":
    raise SystemExit(main())
