"""SB3's ``stable_baselines3.common.sb2_compat.rmsprop_tf_like`` path; the optimizer is in :mod:`ballast.optim`."""

from ballast.optim import RMSpropTFLike

__all__ = ["RMSpropTFLike"]
