"""Policies: ``nn.Module``s that map observations to action distributions and values.

They hold no optimizer; the algorithm owns optimisation.
"""

from ballast.policies.actor_critic import ActorCriticPolicy, PolicyOutput
from ballast.policies.config import PolicyConfig

__all__ = ["ActorCriticPolicy", "PolicyConfig", "PolicyOutput"]
