"""SB3's ``stable_baselines3.common.atari_wrappers``: the Atari preprocessing wrappers."""

from ballast.envs.atari_wrappers import (
    AtariWrapper,
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
    StickyActionEnv,
    WarpFrame,
)

__all__ = ["AtariWrapper", "ClipRewardEnv", "EpisodicLifeEnv", "FireResetEnv", "MaxAndSkipEnv", "NoopResetEnv",
           "StickyActionEnv", "WarpFrame"]
