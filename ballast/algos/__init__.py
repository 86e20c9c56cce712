"""The algorithms. Each module holds a config dataclass and one small class."""

from ballast.algos.a2c import A2C, A2CConfig
from ballast.algos.base import Algorithm, load
from ballast.algos.crossq import CrossQ, CrossQConfig
from ballast.algos.ddpg import DDPG
from ballast.algos.dqn import DQN, DQNConfig
from ballast.algos.ppo import PPO, PPOConfig
from ballast.algos.ppo_recurrent import RecurrentPPO, RecurrentPPOConfig
from ballast.algos.qrdqn import QRDQN
from ballast.algos.sac import SAC, SACConfig
from ballast.algos.td3 import TD3, TD3Config
from ballast.algos.tqc import TQC, TQCConfig

__all__ = ["A2C", "A2CConfig", "Algorithm", "CrossQ", "CrossQConfig", "DDPG", "DQN", "DQNConfig", "PPO",
           "PPOConfig", "QRDQN", "RecurrentPPO", "RecurrentPPOConfig", "SAC", "SACConfig", "TD3", "TD3Config", "TQC",
           "TQCConfig", "load"]
