"""The algorithms. Each module holds a config dataclass and one small class."""

from ballast.algos.a2c import A2C, A2CConfig
from ballast.algos.base import Algorithm, load
from ballast.algos.ppo import PPO, PPOConfig

__all__ = ["A2C", "A2CConfig", "Algorithm", "PPO", "PPOConfig", "load"]
