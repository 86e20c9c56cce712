"""Policies: ``nn.Module``s that map observations to action distributions and values.

The algorithm owns optimisation: a policy answers SB3's ``policy.optimizer`` with the optimizer
the algorithm steps (:mod:`ballast.policies.optimizer_handle`).
"""

from ballast.policies.actor_critic import ActorCriticPolicy, PolicyOutput
from ballast.policies.config import PolicyConfig

__all__ = ["ActorCriticPolicy", "PolicyConfig", "PolicyOutput"]
