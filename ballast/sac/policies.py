"""SB3's ``stable_baselines3.sac.policies``: SAC's policy classes under SB3's names."""

from ballast.policies.continuous import LOG_STD_MAX, LOG_STD_MIN, SACCnnPolicy, SACMultiInputPolicy, SACPolicy

MlpPolicy = SACPolicy
CnnPolicy = SACCnnPolicy
MultiInputPolicy = SACMultiInputPolicy

__all__ = ["LOG_STD_MAX", "LOG_STD_MIN", "CnnPolicy", "MlpPolicy", "MultiInputPolicy", "SACPolicy"]
