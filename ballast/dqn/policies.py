"""SB3's ``stable_baselines3.dqn.policies``: DQN's policy classes under SB3's names."""

from ballast.policies.q_network import DQNCnnPolicy, DQNMultiInputPolicy, DQNPolicy

MlpPolicy = DQNPolicy
CnnPolicy = DQNCnnPolicy
MultiInputPolicy = DQNMultiInputPolicy

__all__ = ["CnnPolicy", "DQNPolicy", "MlpPolicy", "MultiInputPolicy"]
