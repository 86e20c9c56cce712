"""sb3-contrib's ``sb3_contrib.tqc``: ``from ballast.tqc import TQC, MlpPolicy``."""

from ballast.algos.tqc import TQC
from ballast.tqc.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["TQC", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
