"""SB3's test environments: tiny envs whose optimal behaviour is known, for checking that an algorithm,
a policy or a space works (``stable_baselines3.common.envs``; also at ``ballast.common.envs``).

- :class:`IdentityEnv` and its ``Box``, ``MultiDiscrete`` and ``MultiBinary`` variants: reward 1 for
  repeating the observation as the action;
- :class:`FakeImageEnv`: random Atari-sized images, reward 0, for checking image pipelines;
- :class:`BitFlippingEnv`: flip bits until all are 1, a goal-conditioned env with a vectorised
  ``compute_reward`` (the test env of hindsight experience replay);
- :class:`SimpleMultiObsEnv`: a grid world observed through a ``Dict`` of a vector and an image.

SB3 registers none of them; Ballast registers the bit-flipping env as ``ballast/BitFlipping-v0``
(on ``import ballast``), the others are built by their classes.
"""

from ballast.envs.testing.bit_flipping import BitFlippingEnv
from ballast.envs.testing.fake_image import FakeImageEnv
from ballast.envs.testing.identity import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete
from ballast.envs.testing.multi_input import SimpleMultiObsEnv

__all__ = [
    "BitFlippingEnv", "FakeImageEnv", "IdentityEnv", "IdentityEnvBox", "IdentityEnvMultiBinary",
    "IdentityEnvMultiDiscrete", "SimpleMultiObsEnv",
]
