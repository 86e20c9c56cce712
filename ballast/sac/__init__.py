"""SB3's ``stable_baselines3.sac``: ``from ballast.sac import SAC, MlpPolicy``."""

from ballast.algos.sac import SAC
from ballast.sac.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["SAC", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
