"""Residual policies: a learned, zero-initialised correction on top of a frozen base controller.

``SAC("MlpPolicy", env, base_policy=controller)`` (also PPO, A2C, TD3, DDPG) learns ``r(s)`` and
executes ``clip(base(s) + residual_scale * (high - low) / 2 * r(s))``. See docs/residual.md,
:mod:`ballast.residual.bases` for the kinds of base and :mod:`ballast.residual.actions` for the
action mapping.
"""

from ballast.residual.actions import BASE_ACTION_KEY, ResidualActions, ResidualOptions
from ballast.residual.bases import BaseController, CallableBase, ModelBase, ModuleBase, OnnxBase, as_base_policy

__all__ = ["BASE_ACTION_KEY", "BaseController", "CallableBase", "ModelBase", "ModuleBase", "OnnxBase",
           "ResidualActions", "ResidualOptions", "as_base_policy"]
