"""SB3's ``stable_baselines3.dqn``: ``from ballast.dqn import DQN, MlpPolicy``."""

from ballast.algos.dqn import DQN
from ballast.dqn.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["DQN", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
