"""SB3's ``stable_baselines3.td3``: ``from ballast.td3 import TD3, MlpPolicy``."""

from ballast.algos.td3 import TD3
from ballast.td3.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["TD3", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
