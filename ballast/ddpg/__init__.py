"""SB3's ``stable_baselines3.ddpg``: ``from ballast.ddpg import DDPG, MlpPolicy``."""

from ballast.algos.ddpg import DDPG
from ballast.ddpg.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["DDPG", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
