"""SB3's ``stable_baselines3.sac.policies``: SAC's policy classes under SB3's names."""

from ballast.policies.continuous import SACCnnPolicy, SACMultiInputPolicy, SACPolicy

MlpPolicy = SACPolicy
CnnPolicy = SACCnnPolicy
MultiInputPolicy = SACMultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "SACPolicy"]
