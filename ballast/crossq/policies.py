"""sb3-contrib's ``sb3_contrib.crossq.policies``: CrossQ's policy classes under sb3-contrib's names
(sb3-contrib registers ``MlpPolicy`` only; Ballast's ``"CnnPolicy"`` and ``"MultiInputPolicy"``
names choose the encoder of the same ``CrossQPolicy``)."""

from ballast.policies.crossq import CrossQActor, CrossQCritic, CrossQPolicy

Actor = CrossQActor
MlpPolicy = CrossQPolicy

__all__ = ["Actor", "CrossQCritic", "CrossQPolicy", "MlpPolicy"]
