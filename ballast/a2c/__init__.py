"""SB3's ``stable_baselines3.a2c``: ``from ballast.a2c import A2C, MlpPolicy``."""

from ballast.a2c.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from ballast.algos.a2c import A2C

__all__ = ["A2C", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
