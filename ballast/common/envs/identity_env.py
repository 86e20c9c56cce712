"""SB3's ``stable_baselines3.common.envs.identity_env`` path (``FakeImageEnv`` lives there too, as in SB3)."""

from ballast.envs.testing.fake_image import FakeImageEnv
from ballast.envs.testing.identity import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete

__all__ = ["FakeImageEnv", "IdentityEnv", "IdentityEnvBox", "IdentityEnvMultiBinary", "IdentityEnvMultiDiscrete"]
