"""SB3's ``stable_baselines3.td3.policies``: TD3's (and DDPG's) policy classes under SB3's names."""

from ballast.policies.continuous import TD3CnnPolicy, TD3MultiInputPolicy, TD3Policy

MlpPolicy = TD3Policy
CnnPolicy = TD3CnnPolicy
MultiInputPolicy = TD3MultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "TD3Policy"]
