"""SB3's ``stable_baselines3.common.env_checker``: ``check_env``."""

from ballast.envs.env_checker import check_env

__all__ = ["check_env"]
