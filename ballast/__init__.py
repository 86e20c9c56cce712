"""Ballast: reliable reinforcement learning for PyTorch and Gymnasium.

    from ballast import PPO, evaluate_policy
    model = PPO("MlpPolicy", "CartPole-v1", seed=0).learn(100_000)
    mean, std = evaluate_policy(model, "CartPole-v1", n_eval_episodes=10)
"""

from ballast import noise
from ballast.algos import A2C, DDPG, DQN, PPO, QRDQN, SAC, TD3, TQC, CrossQ, RecurrentPPO, load
from ballast.buffers.her import HerReplayBuffer
from ballast.buffers.hindsight import GoalSelectionStrategy
from ballast.buffers.prioritized import PrioritizedReplayBuffer
from ballast.callbacks import (
                               BaseCallback,
                               CallbackList,
                               CheckpointCallback,
                               EvalCallback,
                               StopTrainingOnRewardThreshold,
)
from ballast.common.utils import get_system_info
from ballast.envs import make_atari_env, make_vec_env
from ballast.errors import (
                               ActionMaskError,
                               BallastError,
                               CheckpointError,
                               ConfigurationError,
                               EnvError,
                               ExportError,
                               ObservationError,
                               SpaceMismatchError,
                               UnsupportedSpaceError,
)
from ballast.evaluation import evaluate_policy
from ballast.interop import import_sb3
from ballast.version import __version__

__all__ = [
    "A2C", "CrossQ", "DDPG", "DQN", "PPO", "QRDQN", "RecurrentPPO", "SAC", "TD3", "TQC", "load", "noise",
    "evaluate_policy", "get_system_info", "import_sb3", "make_atari_env", "make_vec_env", "PrioritizedReplayBuffer",
    "HerReplayBuffer", "GoalSelectionStrategy",
    "BaseCallback", "CallbackList", "CheckpointCallback", "EvalCallback", "StopTrainingOnRewardThreshold",
    "ActionMaskError", "BallastError", "CheckpointError", "ConfigurationError", "EnvError", "ExportError",
    "ObservationError", "SpaceMismatchError",
    "UnsupportedSpaceError", "__version__",
]


def HER(*args: object, **kwargs: object) -> None:  # noqa: N802 (SB3's name)
    """SB3 1.0's HER algorithm, a replay buffer since SB3 1.1 and in Ballast: calling it says what to use."""
    raise ImportError("HER is not an algorithm in Ballast (nor in SB3 since 1.1): train DQN, SAC, TD3, DDPG, TQC or "
                      "CrossQ with replay_buffer_class=HerReplayBuffer; see the documentation, docs/goals.md")
