"""sb3-contrib's ``sb3_contrib.qrdqn``: ``from ballast.qrdqn import QRDQN, MlpPolicy``."""

from ballast.algos.qrdqn import QRDQN
from ballast.qrdqn.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["QRDQN", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
