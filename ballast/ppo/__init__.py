"""SB3's ``stable_baselines3.ppo``: ``from ballast.ppo import PPO, MlpPolicy``."""

from ballast.algos.ppo import PPO
from ballast.ppo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["PPO", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
