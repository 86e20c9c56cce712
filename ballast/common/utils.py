"""SB3's ``stable_baselines3.common.utils`` path, for the names Ballast has (see docs/migrating-from-sb3.md)."""

from ballast.device import resolve_device as get_device
from ballast.seeding import set_random_seed

__all__ = ["get_device", "set_random_seed"]
