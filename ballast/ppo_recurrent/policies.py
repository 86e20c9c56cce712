"""sb3-contrib's ``sb3_contrib.ppo_recurrent.policies``: RecurrentPPO's policy classes under sb3-contrib's names."""

from ballast.policies.recurrent import (
    RecurrentActorCriticCnnPolicy,
    RecurrentActorCriticPolicy,
    RecurrentMultiInputActorCriticPolicy,
)

MlpLstmPolicy = RecurrentActorCriticPolicy
CnnLstmPolicy = RecurrentActorCriticCnnPolicy
MultiInputLstmPolicy = RecurrentMultiInputActorCriticPolicy

__all__ = ["CnnLstmPolicy", "MlpLstmPolicy", "MultiInputLstmPolicy", "RecurrentActorCriticCnnPolicy",
           "RecurrentActorCriticPolicy", "RecurrentMultiInputActorCriticPolicy"]
