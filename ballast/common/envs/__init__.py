"""SB3's ``stable_baselines3.common.envs``: its test environments (implemented in ``ballast.envs.testing``)."""

from ballast.envs.testing import (
    BitFlippingEnv,
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)

__all__ = [
    "BitFlippingEnv", "FakeImageEnv", "IdentityEnv", "IdentityEnvBox", "IdentityEnvMultiBinary",
    "IdentityEnvMultiDiscrete", "SimpleMultiObsEnv",
]
