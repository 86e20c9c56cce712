"""The Optuna study of a ``ballast tune`` command: its storage, sampler, pruner, and resuming it.

Without ``--storage`` the study lives in Optuna's journal file ``DIR/study.journal`` (no database
server; safe for several processes). ``--storage`` takes any Optuna storage URL (``sqlite:///...``,
``postgresql://...``, ``mysql://...``) or ``journal:///path/to/file``. Running the same command again
continues the same study: the trials already finished count toward ``--trials``.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballast.errors import ConfigurationError, MissingDependencyError

JOURNAL_SCHEME = "journal://"
#: The journal file of a study kept in the output folder.
JOURNAL_NAME = "study.journal"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "none")
#: Trials that end the way the pruner or the run decided; they count toward ``--trials``.
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def import_optuna() -> Any:
    """The ``optuna`` module, or an error that names the extra to install."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError('ballast tune needs Optuna: pip install "ballast-rl[tune]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage_url(out: Path) -> str:
    """The journal file in the output folder, as a storage URL."""
    return JOURNAL_SCHEME + str((out / JOURNAL_NAME).resolve())


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def open_storage(url: str) -> Any:
    """The Optuna storage at ``url``; a :class:`ConfigurationError` when it cannot be opened."""
    optuna = import_optuna()
    if url.startswith(JOURNAL_SCHEME):
        path = Path(url[len(JOURNAL_SCHEME):]).resolve()
        if not path.parent.is_dir():
            raise ConfigurationError(f"the journal storage {url}: the folder {path.parent} does not exist")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as err:
            raise ConfigurationError(f"cannot open the journal storage {path}: {err}") from None
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as err:  # SQLAlchemy raises many kinds: bad URL, missing driver, server not there
        reason = str(err).splitlines()[0].rstrip(".") if str(err) else type(err).__name__
        raise ConfigurationError(f"cannot open the Optuna storage {_redacted(url)}: {reason}. Give an Optuna "
                                 "storage URL (sqlite:///file.db, postgresql://..., journal:///path) that "
                                 "can be reached from here") from None


@dataclass(frozen=True)
class PrunerSpec:
    """A pruner by name, with the steps before which it never prunes: rebuilt where trials report."""

    name: str = "median"
    warmup_steps: int = 0

    def build(self) -> Any:
        optuna = import_optuna()
        if self.name == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=self.warmup_steps)
        if self.name == "halving":
            return optuna.pruners.SuccessiveHalvingPruner()
        if self.name == "none":
            return optuna.pruners.NopPruner()
        raise ConfigurationError(f"unknown pruner {self.name!r}; known: {', '.join(PRUNERS)}")


def make_sampler(name: str, seed: int | None) -> Any:
    """TPE (multivariate, five random trials first, as rl-baselines3-zoo) or random search."""
    optuna = import_optuna()
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(n_startup_trials=5, multivariate=True, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigurationError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


def open_study(storage: Any, name: str, *, sampler: str, pruner: PrunerSpec, seed: int | None,
               identity: dict[str, Any]) -> Any:
    """Create the study ``name`` or load it to continue. ``identity`` (algorithm, env, steps) is
    recorded on creation and must match on resume, so two different searches never mix."""
    optuna = import_optuna()
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                pruner=pruner.build())
    # Re-seed by the number of trials so far: a resumed search does not replay its first samples.
    study.sampler = make_sampler(sampler, None if seed is None else seed + len(study.trials))
    recorded = {k: study.user_attrs.get(k) for k in identity}
    if not study.trials and not study.user_attrs:
        for key, value in identity.items():
            study.set_user_attr(key, value)
    elif recorded != identity:
        raise ConfigurationError(f"the study {name!r} in this storage was made for {recorded}, not {identity}; "
                                 "give another --study-name (or --out) for a different search")
    return study


def finished_count(study: Any) -> int:
    """Trials that count toward ``--trials``: complete, pruned or failed, less the interrupted ones
    that were queued again (their retry counts instead)."""
    retried = {t.user_attrs.get("retry_of") for t in study.trials}
    return sum(t.state.name in FINISHED and t.number not in retried for t in study.trials)


def recover_interrupted(study: Any) -> int:
    """Mark the trials a killed command left running as failed and queue their parameters again, so
    the resumed search tries them first. Only called while holding the output folder's lock."""
    optuna = import_optuna()
    stale = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    for trial in stale:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return len(stale)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.tune.lock`` so that two ``tune`` commands never share an output folder at once
    (the lock goes away with the process, also when it is killed)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as Optuna's own file journal on such systems
        yield
        return
    with open(out / ".tune.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(f"another ballast tune is running in {out}; wait for it or choose "
                                     "another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
