"""SB3's ``stable_baselines3.common.policies``: the policy classes to build, subclass and load.

``ActorCriticPolicy`` takes SB3's constructor arguments (``observation_space, action_space,
lr_schedule, net_arch, activation_fn, ortho_init, ...``) and the ``_build_mlp_extractor`` hook;
see :mod:`ballast.policies.sb3_arguments` and ``docs/custom-policies.md``.
"""

from ballast.policies.actor_critic import ActorCriticCnnPolicy, ActorCriticPolicy, MultiInputActorCriticPolicy
from ballast.policies.base import BasePolicy

__all__ = ["ActorCriticCnnPolicy", "ActorCriticPolicy", "BasePolicy", "MultiInputActorCriticPolicy"]
