"""sb3-contrib's ``sb3_contrib.tqc.policies``: TQC's policy classes under sb3-contrib's names."""

from ballast.policies.continuous import TQCCnnPolicy, TQCMultiInputPolicy, TQCPolicy

MlpPolicy = TQCPolicy
CnnPolicy = TQCCnnPolicy
MultiInputPolicy = TQCMultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "TQCPolicy"]
