"""SB3's ``stable_baselines3.common.vec_env.vec_monitor`` path."""

from ballast.envs.monitor import VecMonitor

__all__ = ["VecMonitor"]
