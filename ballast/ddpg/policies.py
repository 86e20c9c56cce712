"""SB3's ``stable_baselines3.ddpg.policies``: DDPG uses TD3's policy classes, as in SB3."""

from ballast.td3.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
