"""Errors raised by Ballast.

Every error says what was expected, what came, and what to do. They all derive from
:class:`BallastError`, so ``except ballast.BallastError`` catches any of them.
"""

from __future__ import annotations


class BallastError(Exception):
    """Base class of every error Ballast raises on purpose."""


class UnsupportedSpaceError(BallastError, TypeError):
    """An observation or action space that the chosen algorithm or policy cannot handle."""


class ObservationError(BallastError, ValueError):
    """An observation that does not fit the observation space the model was built for."""


class SpaceMismatchError(BallastError, ValueError):
    """An environment whose spaces differ from the ones a model was built or saved with."""


class EnvError(BallastError, RuntimeError):
    """An environment that returned something Ballast cannot learn from (e.g. a NaN reward)."""


class NonFiniteValueError(EnvError, ValueError):
    """A NaN or infinity that ``VecCheckNan(raise_exception=True)`` found: an :class:`EnvError`, and a
    ``ValueError`` as SB3's ``VecCheckNan`` raises."""


class EnvCheckError(BallastError, AssertionError):
    """An env that ``check_env`` found breaking its spaces or Gymnasium's API: an ``AssertionError``, as
    SB3's and Gymnasium's checkers raise."""


class ActionMaskError(BallastError, ValueError):
    """An action mask that does not fit the action space, or that allows no action."""


class ConfigurationError(BallastError, ValueError):
    """A hyperparameter or option with a value that cannot work."""


class StateDictError(ConfigurationError, RuntimeError):
    """Weights that do not fit a network's state dict: a ``RuntimeError`` too, as torch's strict
    ``load_state_dict`` raises (and SB3's ``set_parameters(exact_match=True)`` with it)."""


class CheckpointError(BallastError, ValueError):
    """A file that is not a readable Ballast checkpoint."""


class MissingDependencyError(BallastError, ImportError):
    """An optional package that a feature needs is not installed; the message names the extra to install."""


class LoadMonitorResultsError(BallastError):
    """No monitor files, or a file that is not a monitor file (SB3's name)."""



class ExportError(BallastError, RuntimeError):
    """An export that could not be written, or whose artifact disagrees with ``model.predict``."""
