"""sb3-contrib's ``sb3_contrib.ppo_recurrent``: ``from ballast.ppo_recurrent import RecurrentPPO, MlpLstmPolicy``."""

from ballast.algos.ppo_recurrent import RecurrentPPO
from ballast.ppo_recurrent.policies import CnnLstmPolicy, MlpLstmPolicy, MultiInputLstmPolicy

__all__ = ["CnnLstmPolicy", "MlpLstmPolicy", "MultiInputLstmPolicy", "RecurrentPPO"]
