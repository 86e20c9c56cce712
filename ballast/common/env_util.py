"""SB3's ``stable_baselines3.common.env_util``: ``make_vec_env``, ``make_atari_env`` and wrapper look-ups."""

from ballast.envs.sb3_env_util import make_atari_env, make_vec_env
from ballast.envs.sb3_vec_env import is_wrapped, unwrap_wrapper

__all__ = ["is_wrapped", "make_atari_env", "make_vec_env", "unwrap_wrapper"]
