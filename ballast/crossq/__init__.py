"""sb3-contrib's ``sb3_contrib.crossq``: ``from ballast.crossq import CrossQ, MlpPolicy``."""

from ballast.algos.crossq import CrossQ
from ballast.crossq.policies import CrossQPolicy, MlpPolicy

__all__ = ["CrossQ", "CrossQPolicy", "MlpPolicy"]
