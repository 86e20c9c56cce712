"""``stable_baselines3.common.logger``: SB3's logger, implemented in :mod:`ballast.logger` and
:mod:`ballast.log_formats`."""

from ballast.logger import *  # noqa: F403 - every name of ballast.logger, under SB3's path
from ballast.logger import __all__  # noqa: F401
