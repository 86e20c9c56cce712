# ruff: noqa: E501 (the inventory's table lines)
"""Every public name of Stable-Baselines3 (and sb3-contrib's masking names), checked against Ballast.

The inventory is data in this file: for each SB3 module, each public name with its status in Ballast
and a note; for SB3's algorithm and policy classes, each public method and attribute.

- ``same``: importable from the SB3 path with ``stable_baselines3`` replaced by ``ballast`` (sb3-contrib's
  names from ``ballast.contrib``), meaning what it means in SB3;
- ``translated``: the same name and use, working differently inside (the note says how);
- ``different``: deliberately different (the note says why and what a script meets); the Ballast path,
  if any, is the nearest Ballast name;
- ``missing``: not in Ballast (the note says what to use instead, where there is something).

Run it to check the inventory against the code (an entry whose status no longer matches is listed and
the exit code is 1), or with ``--markdown`` to print the tables of docs/migrating-from-sb3.md:

    python benchmarks/sb3_name_inventory.py
    python benchmarks/sb3_name_inventory.py --markdown > /tmp/table.md
    python benchmarks/sb3_name_inventory.py --write-docs   # the tables and counts of that guide

SB3 version: 2.9.2, sb3-contrib 2.9.2. Members are checked on small models (PPO, A2C and DQN on
CartPole-v1; SAC, TD3 and DDPG on Pendulum-v1).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ballast, not an installed one

STATUSES = ("same", "translated", "different", "missing")

# [SB3 module], then one line per public name: name | status | Ballast path | note
MODULES = """
[stable_baselines3]
A2C | same | ballast.A2C | hyperparameters are keyword-only after `env`
DDPG | same | ballast.DDPG | hyperparameters are keyword-only after `env`
DQN | same | ballast.DQN | hyperparameters are keyword-only after `env`
PPO | same | ballast.PPO | hyperparameters are keyword-only after `env`
SAC | same | ballast.SAC | hyperparameters are keyword-only after `env`
TD3 | same | ballast.TD3 | hyperparameters are keyword-only after `env`
HerReplayBuffer | translated | ballast.HerReplayBuffer | SB3's `replay_buffer_class`/`replay_buffer_kwargs` (`n_sampled_goal`, `goal_selection_strategy`); relabels running episodes' transitions too (goals from the steps they reached), not `copy_info_dict=True`; see docs/goals.md
HER | same | ballast.HER | SB3's stub: calling it raises an `ImportError` that names `HerReplayBuffer`
get_system_info | translated | ballast.get_system_info | the key `"Ballast"` where SB3 has `"Stable-Baselines3"`
[stable_baselines3.common.callbacks]
BaseCallback | same | ballast.common.callbacks.BaseCallback | also `ballast.BaseCallback`
EventCallback | same | ballast.common.callbacks.EventCallback |
CallbackList | same | ballast.common.callbacks.CallbackList |
CheckpointCallback | same | ballast.common.callbacks.CheckpointCallback | SB3's files and names (`.pkl` files hold JSON and safetensors, no pickle)
ConvertCallback | same | ballast.common.callbacks.ConvertCallback |
EvalCallback | same | ballast.common.callbacks.EvalCallback | also takes an env id and `seed=`; records `eval/std_reward`
StopTrainingOnRewardThreshold | same | ballast.common.callbacks.StopTrainingOnRewardThreshold |
EveryNTimesteps | same | ballast.common.callbacks.EveryNTimesteps |
LogEveryNTimesteps | same | ballast.common.callbacks.LogEveryNTimesteps |
StopTrainingOnMaxEpisodes | same | ballast.common.callbacks.StopTrainingOnMaxEpisodes |
StopTrainingOnNoModelImprovement | same | ballast.common.callbacks.StopTrainingOnNoModelImprovement |
ProgressBarCallback | same | ballast.common.callbacks.ProgressBarCallback |
[stable_baselines3.common.env_util]
unwrap_wrapper | same | ballast.common.env_util.unwrap_wrapper |
is_wrapped | same | ballast.common.env_util.is_wrapped |
make_vec_env | same | ballast.common.env_util.make_vec_env | returns a `DummyVecEnv` of `Monitor`-wrapped copies; `vec_env_cls` also takes Gymnasium's vector envs
make_atari_env | same | ballast.common.env_util.make_atari_env | ALE ids register on first use
[stable_baselines3.common.evaluation]
evaluate_policy | same | ballast.common.evaluation.evaluate_policy | keyword-only extras `seed`, `use_masking`; also takes an env id
[stable_baselines3.common.vec_env]
CloudpickleWrapper | missing | | Gymnasium's `AsyncVectorEnv` pickles the env factories itself
DummyVecEnv | translated | ballast.common.vec_env.DummyVecEnv | Gymnasium's `SyncVectorEnv` (same-step autoreset) inside
StackedObservations | missing | | frame stacking is `VecFrameStack` (a setting of the model)
SubprocVecEnv | translated | ballast.common.vec_env.SubprocVecEnv | Gymnasium's `AsyncVectorEnv` inside
VecCheckNan | same | ballast.common.vec_env.VecCheckNan | raises `ballast.errors.NonFiniteValueError`, a `ValueError` as in SB3 (and a `ballast.EnvError`)
VecEnv | same | ballast.common.vec_env.VecEnv |
VecEnvWrapper | same | ballast.common.vec_env.VecEnvWrapper |
VecExtractDictObs | same | ballast.common.vec_env.VecExtractDictObs |
VecFrameStack | translated | ballast.common.vec_env.VecFrameStack | the stacking becomes a setting of the model
VecMonitor | same | ballast.common.vec_env.VecMonitor |
VecNormalize | translated | ballast.common.vec_env.VecNormalize | deliberately different inside: its settings and statistics become the model's; `save`/`load` write JSON + safetensors; SB3's pickle refused with `CheckpointError`
VecTransposeImage | translated | ballast.common.vec_env.VecTransposeImage | CHW as in SB3; models take HWC directly, so it is never added automatically
VecVideoRecorder | translated | ballast.common.vec_env.VecVideoRecorder | same triggers, file names and frames; writes MP4 with imageio (`ballast-rl[video]`) instead of MoviePy, atomically
is_vecenv_wrapped | same | ballast.common.vec_env.is_vecenv_wrapped |
sync_envs_normalization | same | ballast.common.vec_env.sync_envs_normalization | not needed for evaluation: the statistics are in the model
unwrap_vec_normalize | same | ballast.common.vec_env.unwrap_vec_normalize |
unwrap_vec_wrapper | same | ballast.common.vec_env.unwrap_vec_wrapper |
[stable_baselines3.common.vec_env.base_vec_env]
VecEnv | same | ballast.common.vec_env.base_vec_env.VecEnv |
VecEnvWrapper | same | ballast.common.vec_env.base_vec_env.VecEnvWrapper |
VecEnvIndices | same | ballast.common.vec_env.base_vec_env.VecEnvIndices |
VecEnvObs | same | ballast.common.vec_env.base_vec_env.VecEnvObs |
VecEnvStepReturn | same | ballast.common.vec_env.base_vec_env.VecEnvStepReturn |
tile_images | same | ballast.common.vec_env.base_vec_env.tile_images |
CloudpickleWrapper | missing | | see `vec_env.CloudpickleWrapper`
[stable_baselines3.common.monitor]
Monitor | same | ballast.common.monitor.Monitor | SB3's file format
LoadMonitorResultsError | same | ballast.common.monitor.LoadMonitorResultsError | a `ballast.BallastError`
ResultsWriter | same | ballast.common.monitor.ResultsWriter |
get_monitor_files | same | ballast.common.monitor.get_monitor_files |
load_results | same | ballast.common.monitor.load_results | needs pandas (`ballast-rl[monitor]`)
[stable_baselines3.common.logger]
DEBUG | same | ballast.common.logger.DEBUG |
INFO | same | ballast.common.logger.INFO |
WARN | same | ballast.common.logger.WARN |
ERROR | same | ballast.common.logger.ERROR |
DISABLED | same | ballast.common.logger.DISABLED |
Video | same | ballast.common.logger.Video | TensorBoard gets an animated GIF encoded with imageio (SB3's `add_video` path needs moviepy); several videos side by side rather than in a grid
Figure | same | ballast.common.logger.Figure |
Image | same | ballast.common.logger.Image |
HParam | same | ballast.common.logger.HParam |
FormatUnsupportedError | same | ballast.common.logger.FormatUnsupportedError |
KVWriter | same | ballast.common.logger.KVWriter |
SeqWriter | same | ballast.common.logger.SeqWriter |
HumanOutputFormat | same | ballast.common.logger.HumanOutputFormat |
filter_excluded_keys | same | ballast.common.logger.filter_excluded_keys |
JSONOutputFormat | same | ballast.common.logger.JSONOutputFormat |
CSVOutputFormat | same | ballast.common.logger.CSVOutputFormat |
TensorBoardOutputFormat | same | ballast.common.logger.TensorBoardOutputFormat |
make_output_format | same | ballast.common.logger.make_output_format |
Logger | same | ballast.common.logger.Logger | also Ballast's shorthand `Logger(folder, verbose=1, tensorboard=False)`
configure | same | ballast.common.logger.configure | reads no `SB3_LOGDIR`/`SB3_LOG_FORMAT`
read_csv | missing | | `pandas.read_csv(path)`
read_json | missing | | `pandas.read_json(path, lines=True)`
[stable_baselines3.common.noise]
ActionNoise | same | ballast.common.noise.ActionNoise | each noise owns a seeded generator; saved as JSON in checkpoints
NormalActionNoise | same | ballast.common.noise.NormalActionNoise |
OrnsteinUhlenbeckActionNoise | same | ballast.common.noise.OrnsteinUhlenbeckActionNoise |
VectorizedActionNoise | same | ballast.common.noise.VectorizedActionNoise |
[stable_baselines3.common.torch_layers]
BaseFeaturesExtractor | same | ballast.common.torch_layers.BaseFeaturesExtractor | a subclass defined in a script must be registered (`register_features_extractor`)
FlattenExtractor | same | ballast.common.torch_layers.FlattenExtractor |
NatureCNN | same | ballast.common.torch_layers.NatureCNN |
create_mlp | same | ballast.common.torch_layers.create_mlp |
MlpExtractor | same | ballast.common.torch_layers.MlpExtractor |
CombinedExtractor | same | ballast.common.torch_layers.CombinedExtractor |
get_actor_critic_arch | missing | | `net_arch` is parsed into the model's typed configuration
[stable_baselines3.common.policies]
BaseModel | missing | | `BasePolicy` is the base of every Ballast policy
BasePolicy | different | ballast.common.policies.BasePolicy | the base of Ballast's policies (`predict`, `save`/`load`, `obs_to_tensor`, `scale_action`, `optimizer`, ...); its constructor takes no spaces, a subclass builds its own networks and acts through `forward(obs, deterministic)` (no `_predict`)
ActorCriticPolicy | translated | ballast.common.policies.ActorCriticPolicy | SB3's constructor arguments and `_build_mlp_extractor` hook; a subclass is passed as the policy (registered with `@ballast.registry.register_policy` when a script defines it); Ballast's layers inside, so `state_dict` names differ
ActorCriticCnnPolicy | translated | ballast.common.policies.ActorCriticCnnPolicy | `ActorCriticPolicy` with `NatureCNN` by default (`"CnnPolicy"`)
MultiInputActorCriticPolicy | translated | ballast.common.policies.MultiInputActorCriticPolicy | `ActorCriticPolicy` with `CombinedExtractor` by default (`"MultiInputPolicy"`)
ContinuousCritic | different | ballast.policies.continuous.ContinuousCritic | Ballast's critic ensemble (stacked weights), not SB3's constructor
[stable_baselines3.common.utils]
set_random_seed | same | ballast.common.utils.set_random_seed |
get_device | same | ballast.common.utils.get_device | warns when CUDA is asked for and missing
explained_variance | same | ballast.common.utils.explained_variance |
update_learning_rate | same | ballast.common.utils.update_learning_rate | also on Ballast's flat optimizers (`param_groups`); the algorithm sets the rate from its schedule at each update, as in SB3
FloatSchedule | same | ballast.common.utils.FloatSchedule | a model given one keeps the schedule inside (saved as data when it is one of Ballast's)
LinearSchedule | same | ballast.common.utils.LinearSchedule | `LinearSchedule(start, end, end_fraction)`; Ballast's schedule data (saved as JSON)
ConstantSchedule | translated | ballast.common.utils.ConstantSchedule | Ballast's schedule data (saved as JSON); its field is `value` (SB3: `val`), so `ConstantSchedule(val=0.1)` is a `TypeError`
get_schedule_fn | translated | ballast.common.utils.get_schedule_fn | returns Ballast's schedule data (callable as SB3's, saved as JSON)
get_linear_fn | translated | ballast.common.utils.get_linear_fn | returns a `LinearSchedule` (Ballast's schedule data)
constant_fn | translated | ballast.common.utils.constant_fn | returns a `ConstantSchedule` (Ballast's schedule data)
get_latest_run_id | same | ballast.common.utils.get_latest_run_id |
configure_logger | missing | | `ballast.common.logger.configure`
check_for_correct_spaces | same | ballast.common.utils.check_for_correct_spaces | raises `SpaceMismatchError` (a `ValueError`, as SB3's)
check_shape_equal | same | ballast.common.utils.check_shape_equal |
is_vectorized_box_observation | same | ballast.common.utils.is_vectorized_box_observation |
is_vectorized_discrete_observation | same | ballast.common.utils.is_vectorized_discrete_observation |
is_vectorized_multidiscrete_observation | same | ballast.common.utils.is_vectorized_multidiscrete_observation |
is_vectorized_multibinary_observation | same | ballast.common.utils.is_vectorized_multibinary_observation |
is_vectorized_dict_observation | same | ballast.common.utils.is_vectorized_dict_observation |
is_vectorized_observation | same | ballast.common.utils.is_vectorized_observation |
safe_mean | same | ballast.common.utils.safe_mean |
get_parameters_by_name | same | ballast.common.utils.get_parameters_by_name |
zip_strict | same | ballast.common.utils.zip_strict |
polyak_update | same | ballast.common.utils.polyak_update |
obs_as_tensor | same | ballast.common.utils.obs_as_tensor |
should_collect_more_steps | same | ballast.common.utils.should_collect_more_steps |
get_system_info | translated | ballast.common.utils.get_system_info | the key `"Ballast"` where SB3 has `"Stable-Baselines3"`
[stable_baselines3.common.buffers]
BaseBuffer | missing | | Ballast's buffers (`ballast.buffers`) are its own: per-space storages, ragged observations
ReplayBuffer | different | ballast.buffers.replay.ReplayBuffer | its own constructor and sample layout; `replay_buffer_class` takes it (the default) or `ballast.PrioritizedReplayBuffer`
RolloutBuffer | different | ballast.buffers.rollout.RolloutBuffer | its own constructor and layout
DictReplayBuffer | missing | | `ReplayBuffer` handles Dict spaces
DictRolloutBuffer | missing | | `RolloutBuffer` handles Dict spaces
NStepReplayBuffer | missing | | DQN's `n_steps=` option
[stable_baselines3.common.env_checker]
check_env | translated | ballast.common.env_checker.check_env | its messages are Ballast's; also checks that Ballast supports the spaces (an unsupported one raises `UnsupportedSpaceError`, where SB3 warns) and runs Gymnasium's checker, whose `AssertionError` says when `reset(seed=...)` does not make the env deterministic
[stable_baselines3.common.results_plotter]
X_TIMESTEPS | same | ballast.common.results_plotter.X_TIMESTEPS |
X_EPISODES | same | ballast.common.results_plotter.X_EPISODES |
X_WALLTIME | same | ballast.common.results_plotter.X_WALLTIME |
POSSIBLE_X_AXES | same | ballast.common.results_plotter.POSSIBLE_X_AXES |
EPISODES_WINDOW | same | ballast.common.results_plotter.EPISODES_WINDOW |
rolling_window | same | ballast.common.results_plotter.rolling_window |
window_func | same | ballast.common.results_plotter.window_func |
ts2xy | same | ballast.common.results_plotter.ts2xy |
plot_curves | same | ballast.common.results_plotter.plot_curves | needs matplotlib
plot_results | same | ballast.common.results_plotter.plot_results | needs matplotlib
[stable_baselines3.common.save_util]
recursive_getattr | missing | |
recursive_setattr | missing | |
is_json_serializable | missing | |
data_to_json | missing | | the checkpoint format is Ballast's (`docs/checkpoints.md`)
json_to_data | missing | |
open_path | same | ballast.common.save_util.open_path |
open_path_str | missing | |
open_path_pathlib | missing | |
save_to_zip_file | missing | | `model.save`
load_from_zip_file | missing | | `ballast.checkpoint`; SB3 files: `ballast.import_sb3`
save_to_pkl | different | ballast.common.save_util.save_to_pkl | no pickle, by design: calling it raises `CheckpointError` naming what to use
load_from_pkl | different | ballast.common.save_util.load_from_pkl | no pickle, by design: calling it raises `CheckpointError` naming what to use
[stable_baselines3.common.preprocessing]
is_image_space_channels_first | same | ballast.common.preprocessing.is_image_space_channels_first |
is_image_space | same | ballast.common.preprocessing.is_image_space |
maybe_transpose | same | ballast.common.preprocessing.maybe_transpose | not needed for Ballast's models: they take HWC and CHW images
preprocess_obs | same | ballast.common.preprocessing.preprocess_obs | Ballast's policies do it inside their encoders
get_obs_shape | same | ballast.common.preprocessing.get_obs_shape |
get_flattened_obs_dim | same | ballast.common.preprocessing.get_flattened_obs_dim |
get_action_dim | same | ballast.common.preprocessing.get_action_dim |
check_for_nested_spaces | same | ballast.common.preprocessing.check_for_nested_spaces | Ballast's models refuse nested Dicts themselves (`UnsupportedSpaceError`)
[stable_baselines3.common.distributions]
Distribution | missing | | Ballast's distributions (`ballast.distributions`) are its own small classes
sum_independent_dims | missing | |
DiagGaussianDistribution | different | ballast.distributions.DiagGaussian | its own constructor
SquashedDiagGaussianDistribution | different | ballast.distributions.SquashedGaussian | its own constructor
CategoricalDistribution | different | ballast.distributions.Categorical | its own constructor
MultiCategoricalDistribution | different | ballast.distributions.MultiCategorical | its own constructor
BernoulliDistribution | different | ballast.distributions.Bernoulli | its own constructor
StateDependentNoiseDistribution | different | ballast.distributions.StateDependentGaussian | its own constructor
TanhBijector | missing | | `ballast.distributions.TanhSquashed`
make_proba_distribution | missing | |
kl_divergence | missing | |
[stable_baselines3.common.type_aliases]
GymEnv | same | ballast.common.type_aliases.GymEnv |
GymObs | same | ballast.common.type_aliases.GymObs |
GymResetReturn | same | ballast.common.type_aliases.GymResetReturn |
AtariResetReturn | same | ballast.common.type_aliases.AtariResetReturn |
GymStepReturn | same | ballast.common.type_aliases.GymStepReturn |
AtariStepReturn | same | ballast.common.type_aliases.AtariStepReturn |
TensorDict | same | ballast.common.type_aliases.TensorDict |
OptimizerStateDict | same | ballast.common.type_aliases.OptimizerStateDict |
MaybeCallback | same | ballast.common.type_aliases.MaybeCallback |
PyTorchObs | same | ballast.common.type_aliases.PyTorchObs |
Schedule | different | ballast.schedules.Schedule | Ballast's schedule types (data, saved as JSON)
RolloutBufferSamples | missing | | Ballast's buffers give their own batches (`ballast.extensions.Transitions`, `ballast.buffers.RolloutBatch`)
DictRolloutBufferSamples | missing | |
ReplayBufferSamples | missing | |
DictReplayBufferSamples | missing | |
RolloutReturn | missing | |
TrainFrequencyUnit | same | ballast.common.type_aliases.TrainFrequencyUnit |
TrainFreq | same | ballast.common.type_aliases.TrainFreq |
PolicyPredictor | same | ballast.common.type_aliases.PolicyPredictor |
[stable_baselines3.common.atari_wrappers]
StickyActionEnv | same | ballast.common.atari_wrappers.StickyActionEnv |
NoopResetEnv | same | ballast.common.atari_wrappers.NoopResetEnv |
FireResetEnv | same | ballast.common.atari_wrappers.FireResetEnv |
EpisodicLifeEnv | same | ballast.common.atari_wrappers.EpisodicLifeEnv |
MaxAndSkipEnv | same | ballast.common.atari_wrappers.MaxAndSkipEnv |
ClipRewardEnv | same | ballast.common.atari_wrappers.ClipRewardEnv |
WarpFrame | same | ballast.common.atari_wrappers.WarpFrame |
AtariWrapper | same | ballast.common.atari_wrappers.AtariWrapper | warns when the env skips frames itself (`ALE/*-v5`)
[stable_baselines3.her]
GoalSelectionStrategy | same | ballast.her.GoalSelectionStrategy | the same names and values
HerReplayBuffer | translated | ballast.her.HerReplayBuffer | see `stable_baselines3.HerReplayBuffer` above and docs/goals.md
[stable_baselines3.common.base_class]
BaseAlgorithm | different | ballast.common.base_class.BaseAlgorithm | Ballast's `Algorithm`, the base of every algorithm (`isinstance(model, BaseAlgorithm)` holds); not SB3's class to subclass (no `_setup_model`)
maybe_make_env | same | ballast.common.base_class.maybe_make_env | env ids are accepted wherever an env is
[stable_baselines3.common.on_policy_algorithm]
OnPolicyAlgorithm | missing | | PPO and A2C share `ballast.algos.on_policy`
[stable_baselines3.common.off_policy_algorithm]
OffPolicyAlgorithm | missing | | SAC, TD3, DDPG and DQN share `ballast.algos.off_policy`
[stable_baselines3.common.running_mean_std]
RunningMeanStd | same | ballast.common.running_mean_std.RunningMeanStd | NumPy, as SB3's; a model's own statistics are modules of the model (`ballast.policies.normalize`), seen through `VecNormalize.obs_rms`
[stable_baselines3.common.sb2_compat.rmsprop_tf_like]
RMSpropTFLike | same | ballast.common.sb2_compat.rmsprop_tf_like.RMSpropTFLike |
[stable_baselines3.common.envs]
BitFlippingEnv | same | ballast.common.envs.BitFlippingEnv | also `ballast.envs.testing`; seeded by `reset(seed=...)` (no `seed` method: Gymnasium dropped it)
FakeImageEnv | same | ballast.common.envs.FakeImageEnv | images drawn from the env's seeded generator
IdentityEnv | same | ballast.common.envs.IdentityEnv | states drawn from the env's seeded generator, not from the action space it shares with the observations
IdentityEnvBox | same | ballast.common.envs.IdentityEnvBox |
IdentityEnvMultiBinary | same | ballast.common.envs.IdentityEnvMultiBinary |
IdentityEnvMultiDiscrete | same | ballast.common.envs.IdentityEnvMultiDiscrete |
SimpleMultiObsEnv | same | ballast.common.envs.SimpleMultiObsEnv | random starts drawn from the env's seeded generator; grids other than 4 x 4 work (border open, inside walls)
[stable_baselines3.ppo]
PPO | same | ballast.ppo.PPO | the class of `ballast.PPO`
MlpPolicy | translated | ballast.ppo.MlpPolicy | `ActorCriticPolicy` (see `stable_baselines3.common.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.ppo.CnnPolicy | `ActorCriticCnnPolicy`
MultiInputPolicy | translated | ballast.ppo.MultiInputPolicy | `MultiInputActorCriticPolicy`
[stable_baselines3.a2c]
A2C | same | ballast.a2c.A2C | the class of `ballast.A2C`
MlpPolicy | translated | ballast.a2c.MlpPolicy | `ActorCriticPolicy` (see `stable_baselines3.common.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.a2c.CnnPolicy | `ActorCriticCnnPolicy`
MultiInputPolicy | translated | ballast.a2c.MultiInputPolicy | `MultiInputActorCriticPolicy`
[stable_baselines3.sac]
SAC | same | ballast.sac.SAC | the class of `ballast.SAC`
MlpPolicy | translated | ballast.sac.MlpPolicy | `SACPolicy` (see `stable_baselines3.sac.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.sac.CnnPolicy | `SACPolicy` with `NatureCNN` by default
MultiInputPolicy | translated | ballast.sac.MultiInputPolicy | `SACPolicy` with `CombinedExtractor` by default
[stable_baselines3.td3]
TD3 | same | ballast.td3.TD3 | the class of `ballast.TD3`
MlpPolicy | translated | ballast.td3.MlpPolicy | `TD3Policy` (see `stable_baselines3.td3.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.td3.CnnPolicy | `TD3Policy` with `NatureCNN` by default
MultiInputPolicy | translated | ballast.td3.MultiInputPolicy | `TD3Policy` with `CombinedExtractor` by default
[stable_baselines3.ddpg]
DDPG | same | ballast.ddpg.DDPG | the class of `ballast.DDPG`
MlpPolicy | translated | ballast.ddpg.MlpPolicy | `TD3Policy` (see `stable_baselines3.td3.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.ddpg.CnnPolicy | `TD3Policy` with `NatureCNN` by default
MultiInputPolicy | translated | ballast.ddpg.MultiInputPolicy | `TD3Policy` with `CombinedExtractor` by default
[stable_baselines3.dqn]
DQN | same | ballast.dqn.DQN | the class of `ballast.DQN`
MlpPolicy | translated | ballast.dqn.MlpPolicy | `DQNPolicy` (see `stable_baselines3.dqn.policies`); passing the class or `"MlpPolicy"` is the same
CnnPolicy | translated | ballast.dqn.CnnPolicy | `DQNPolicy` with `NatureCNN` by default
MultiInputPolicy | translated | ballast.dqn.MultiInputPolicy | `DQNPolicy` with `CombinedExtractor` by default
[stable_baselines3.sac.policies]
Actor | different | ballast.policies.continuous.SquashedGaussianActor | Ballast's actor (stacked MLP), reached as `model.policy.actor`
SACPolicy | translated | ballast.sac.policies.SACPolicy | SB3's constructor arguments; Ballast's networks inside (the critics stacked, `state_dict` names differ); the optimizers are the algorithm's (`policy.actor.optimizer`, `policy.critic.optimizer`); no `make_actor`/`make_critic` hooks
LOG_STD_MIN | same | ballast.sac.policies.LOG_STD_MIN |
LOG_STD_MAX | same | ballast.sac.policies.LOG_STD_MAX |
[stable_baselines3.td3.policies]
Actor | different | ballast.policies.continuous.DeterministicActor | reached as `model.policy.actor`
TD3Policy | translated | ballast.td3.policies.TD3Policy | as `SACPolicy`
[stable_baselines3.dqn.policies]
QNetwork | different | ballast.policies.q_network.QNetwork | reached as `model.policy.q_net`
DQNPolicy | translated | ballast.dqn.policies.DQNPolicy | SB3's constructor arguments; `policy.optimizer` is the algorithm's; `make_q_net(ortho_init)` is its hook
[sb3_contrib]
MaskablePPO | same | ballast.contrib.MaskablePPO | `ballast.PPO` masks by itself whenever the env gives masks
RecurrentPPO | same | ballast.contrib.RecurrentPPO | also `ballast.RecurrentPPO`; policies in `ballast.ppo_recurrent`; `policy_kwargs` also take `recurrent_cell="gru"`; exported to ONNX, TorchScript and MATLAB with the state as inputs and outputs; also takes `base_policy=` (a recurrent residual)
QRDQN | same | ballast.contrib.QRDQN | also `ballast.QRDQN`; policies in `ballast.qrdqn.policies`; `policy.q_net` is sb3-contrib's `quantile_net` (its `quantiles` method gives the quantiles, calling it the Q-values)
TQC | same | ballast.contrib.TQC | also `ballast.TQC`; policies in `ballast.tqc.policies`; `policy.critic` holds every critic's quantiles in one stacked network (`policy.q_values(obs, actions)` gives them, shape `(n_critics, batch, n_quantiles)`)
TRPO | missing | |
ARS | missing | |
CrossQ | same | ballast.contrib.CrossQ | also `ballast.CrossQ`; policies in `ballast.crossq.policies`; `policy.critic` holds every critic in one stacked network with one set of batch-renorm statistics per critic (`policy.q_values(obs, actions)` gives them, shape `(n_critics, batch)`); no `tau` argument, as in sb3-contrib
[sb3_contrib.common.wrappers]
ActionMasker | same | ballast.contrib.ActionMasker | also `ballast.envs.ActionMasker`
TimeFeatureWrapper | same | ballast.contrib.TimeFeatureWrapper | also `ballast.envs.TimeFeatureWrapper`; allowed in a zoo entry's `env_wrapper`
[sb3_contrib.common.maskable.utils]
get_action_masks | same | ballast.contrib.get_action_masks |
is_masking_supported | same | ballast.contrib.is_masking_supported |
EXPECTED_METHOD_NAME | missing | | the method is `action_masks`, as in sb3-contrib
[sb3_contrib.common.maskable.evaluation]
evaluate_policy | same | ballast.contrib.evaluate_policy |
[sb3_contrib.common.maskable.callbacks]
MaskableEvalCallback | same | ballast.contrib.MaskableEvalCallback |
[sb3_contrib.common.maskable.policies]
MaskableActorCriticPolicy | translated | ballast.contrib.MaskableActorCriticPolicy | `ballast.policies.ActorCriticPolicy`
MaskableActorCriticCnnPolicy | missing | | `"CnnPolicy"`
MaskableMultiInputActorCriticPolicy | translated | ballast.contrib.MaskableMultiInputActorCriticPolicy | `ballast.policies.ActorCriticPolicy`
[sb3_contrib.common.maskable.distributions]
MaskableCategoricalDistribution | different | ballast.distributions.MaskedCategorical | its own constructor
MaskableMultiCategoricalDistribution | missing | | masks of MultiDiscrete actions are handled by the policy
MaskableBernoulliDistribution | missing | |
[sb3_contrib.common.maskable.buffers]
MaskableRolloutBuffer | missing | | `RolloutBuffer` stores masks when there are any
MaskableDictRolloutBuffer | missing | |
"""

# [Class: algorithms it applies to] or [policy Class: algorithms whose model.policy it describes],
# then one line per public method or attribute: name | status | | note
MEMBERS = """
[BaseAlgorithm: PPO A2C SAC TD3 DDPG DQN]
learn | translated | | returns the model; at its end it dumps the logs once more when a `log_interval` is unfinished (not with `log_interval=None`, as with `LogEveryNTimesteps`); off-policy `log_interval` counts iterations, each running until an episode has ended (SB3 counts episodes)
predict | same | | `state`/`episode_start` accepted and ignored (no recurrent policies); also `action_masks=`
save | same | | one zip of JSON + safetensors, to a path or a file object; returns the path; `include=["replay_buffer"]` stores the replay buffer; `exclude=` may name the optimizers' state, `verbose` and what a file never holds (the env, the logger), anything else raises `ConfigurationError`; `include` wins over `exclude`, as in SB3
load | same | | a classmethod, as in SB3; also from a file object; `custom_objects` become keyword arguments; `print_system_info` prints both versions; `force_reset` accepted (a loaded model always resets its env first)
get_env | same | | SB3's `VecEnv` API
set_env | same | | checks the spaces (`SpaceMismatchError`)
set_logger | same | |
logger | same | |
set_random_seed | same | |
get_parameters | translated | | SB3's keys (`"policy"`, `"policy.optimizer"`, `"actor.optimizer"`, `"critic.optimizer"`, `"ent_coef_optimizer"`); the policy's tensors have Ballast's names (see `state_dict`)
set_parameters | translated | | a `get_parameters` dict or a saved Ballast model (an SB3 file: `ballast.import_sb3`); `exact_match` as in SB3: an unknown or missing object raises `ConfigurationError` (a `ValueError`), a missing tensor `StateDictError` (a `RuntimeError`, as torch's strict load)
get_vec_normalize_env | same | | the `VecNormalize` of the env the model was given or set, else None; its statistics are the model's (a model made with `normalize_observations=True` has None and saves its statistics with itself)
dump_logs | same | | `learn` calls it every `log_interval` iterations; `iteration` (on-policy) is logged as `time/iterations` when given
action_space | same | |
observation_space | same | |
device | same | |
env | translated | | the Gymnasium vector env the model steps; `get_env()` gives SB3's `VecEnv`
n_envs | same | |
num_timesteps | same | |
ep_info_buffer | same | |
ep_success_buffer | same | |
policy | translated | | Ballast's `nn.Module`; the algorithm owns the optimizers (PPO's, A2C's and DQN's `policy.optimizer`, SAC's and TD3's `policy.actor.optimizer` and `policy.critic.optimizer` answer the ones it steps)
policy_class | same | |
policy_kwargs | same | | as given, turned into a typed `PolicyConfig` (`model.policy_config`)
seed | same | |
start_time | same | |
tensorboard_log | same | |
verbose | same | |
learning_rate | translated | | a number as given, a schedule as Ballast's schedule (a callable of the remaining progress); setting it changes the rate of the next updates (SB3 reads `lr_schedule`, built once)
lr_schedule | translated | | Ballast's schedule, a callable of the remaining progress as SB3's; setting it sets `learning_rate`, which the next updates follow
policy_aliases | missing | | policies are named by string
[OnPolicyAlgorithm: PPO A2C]
train | same | |
rollout_buffer | different | | Ballast's `RolloutBuffer`
collect_rollouts | missing | | the rollout loop is a function of `ballast.algos.on_policy`
gamma | same | |
gae_lambda | same | |
ent_coef | same | |
vf_coef | same | |
max_grad_norm | same | |
n_steps | same | | fixed once built: setting it raises `ConfigurationError` (the rollout buffer is sized by it)
use_sde | same | | fixed once built (`ConfigurationError`)
sde_sample_freq | same | |
rollout_buffer_class | missing | | not accepted
rollout_buffer_kwargs | missing | | not accepted
[OffPolicyAlgorithm: SAC TD3 DDPG DQN]
train | same | |
replay_buffer | different | | Ballast's `ReplayBuffer` (`size()` as in SB3)
action_noise | same | |
save_replay_buffer | translated | | one safe file (JSON + safetensors in a zip; `.zip` added to a path without suffix, where SB3 writes a `.pkl`), or a file object
load_replay_buffer | translated | | reads `save_replay_buffer`'s file for a model of the same spaces, `buffer_size` and `n_envs`; SB3's pickles are refused (`CheckpointError`); `truncate_last_traj` accepted
collect_rollouts | missing | | the collection loop is a function of `ballast.algos.off_policy`
gamma | same | |
tau | same | |
batch_size | same | |
buffer_size | same | | fixed once built (`ConfigurationError`: the replay buffer is allocated)
learning_starts | same | |
train_freq | same | | SB3's `TrainFreq(frequency, unit)`; set it as the constructor's argument (`4` or `(1, "episode")`)
gradient_steps | same | |
optimize_memory_usage | translated | | the constructors take either value and the attribute reads True: the replay buffer always stores each observation once, as True does in SB3; `replay_buffer_kwargs=dict(handle_timeout_termination=False)` is honoured
replay_buffer_class | translated | | `ballast.HerReplayBuffer`, `ballast.PrioritizedReplayBuffer` (the same as `prioritized_replay=True`) or `ReplayBuffer` (the default); another class raises `ConfigurationError`
replay_buffer_kwargs | translated | | the prioritized buffer's `alpha`, `beta`, `final_beta`, `min_priority` (names of SB3's unreleased PR #1622), HER's options, and SB3's `handle_timeout_termination` (uniform and prioritized buffers); fixed once built
[PPO: PPO]
batch_size | same | |
n_epochs | same | |
clip_range | same | | a schedule, as in SB3 (setting it takes a number or a callable)
clip_range_vf | same | | `None` or a schedule
normalize_advantage | same | |
target_kl | same | |
[A2C: A2C]
normalize_advantage | same | |
[SAC: SAC]
actor | translated | | `model.policy.actor`: Ballast's actor; `actor(obs)` and `action_log_prob(obs)` as SB3's, its layers are Ballast's (`mlp`, `mu`, `log_std`)
critic | different | | `model.policy.critic`: Ballast's critic ensemble; `critic(obs, actions)` returns one tensor of shape `(n_critics, batch)` (SB3: a tuple of `(batch, 1)` tensors); no `q1_forward`
critic_target | different | | as `critic`
ent_coef | same | | as given (`"auto"`, `"auto_0.1"` or a number); fixed once built (`ConfigurationError`)
ent_coef_optimizer | same | |
log_ent_coef | same | |
target_entropy | same | |
target_update_interval | translated | | counts gradient steps over the whole run (SB3 counts them within each `train` call)
[TD3: TD3 DDPG]
actor | translated | | `model.policy.actor`: Ballast's actor; `actor(obs)` as SB3's, its layers are Ballast's
actor_target | translated | | as `actor`
critic | different | | as SAC's `critic`
critic_target | different | | as SAC's `critic`
policy_delay | same | |
target_policy_noise | same | |
target_noise_clip | same | |
[DQN: DQN]
q_net | same | | `model.policy.q_net`: `q_net(obs)` gives the Q-values `(batch, n_actions)`; its layers are Ballast's
q_net_target | same | | as `q_net`
exploration_rate | same | |
exploration_schedule | translated | | a callable of the remaining progress made from `exploration_initial_eps`, `exploration_final_eps` and `exploration_fraction` (SB3's `LinearSchedule`); setting it raises `ConfigurationError`: set those three
exploration_initial_eps | same | |
exploration_final_eps | same | |
exploration_fraction | same | |
target_update_interval | same | |
max_grad_norm | same | |
[policy BaseModel/BasePolicy: PPO SAC TD3 DQN]
observation_space | same | |
action_space | same | |
predict | same | | `(action, state)`, actions with the action space's dtype; observations normalised by the model's statistics when it normalises them; also `action_masks=`
save | translated | | one safe file (JSON + safetensors in a zip; `.zip` added to a path without suffix); SB3's `.pth` policy files are refused (`CheckpointError`)
load | translated | | a classmethod, as in SB3; reads `policy.save`'s file or the policy of a model's file
device | same | |
state_dict | different | | Ballast's key names: PPO's actor and critic layers stacked in `trunk.weights.N`, the action layer `action_head.net`, the critics stacked; code that selects SB3's names (`"action_net.weight"`) finds other ones
load_state_dict | different | | takes Ballast's key names (see `state_dict`)
features_extractor | missing | | PPO's and A2C's policies have it (the encoder); SAC, TD3 and DQN policies have none (SB3's is None there): `policy.actor.features_extractor`, `policy.q_net.features_extractor`
set_training_mode | translated | | switches `train`/`eval` only when a submodule acts differently in the two modes (dropout, batch norm, a module from outside Ballast), so `policy.training` may stay True
optimizer | translated | | the optimizer the algorithm steps (PPO, A2C, DQN): Ballast's flat Adam or RMSprop (`param_groups[0]["lr"]`, `zero_grad`, `step`, `state_dict`; not a `torch.optim.Optimizer`), or the `optimizer_class` given; read-only. SAC, TD3: `policy.actor.optimizer`, `policy.critic.optimizer`, as in SB3 (`policy.optimizer` is None)
make_features_extractor | missing | |
extract_features | missing | | PPO's and A2C's policies have it
parameters_to_vector | same | |
load_from_vector | same | | copies into the parameters' tensors; torch's `vector_to_parameters`, which gives them new ones, works too: `learn` steps them again
obs_to_tensor | translated | | `(tensor batch, whether it was a batch)` as SB3's; images stay as given (HWC), which the encoder takes, where SB3 transposes them to CHW
is_vectorized_observation | same | | a wrong shape raises `ObservationError` (a `ValueError`)
scale_action | same | |
unscale_action | same | |
reset_noise | same | |
[policy ActorCriticPolicy: PPO A2C]
forward | same | | SB3's `(actions, values, log_prob)`, values of shape `(batch, 1)`, on observations as the network takes them (normalised when the model normalises)
evaluate_actions | same | |
predict_values | same | |
use_sde | same | |
get_distribution | missing | | `policy.outputs(obs).distribution` (Ballast's distribution classes)
mlp_extractor | translated | | a view of Ballast's layers (`trunk`, or `actor_mlp`/`critic_mlp`) with SB3's interface: `latent_dim_pi`, `latent_dim_vf`, `forward_actor`, `forward_critic`, called on features gives both latents; not an `nn.Module` (no `policy_net`/`value_net`); a subclass's own module when `_build_mlp_extractor` sets one
action_net | same | | the action head's output layer
value_net | same | |
[policy SACPolicy/TD3Policy: SAC TD3]
actor | translated | | see SAC's `model.actor`
critic | different | | see SAC's `model.critic`
critic_target | different | | see SAC's `model.critic`
make_actor | missing | |
make_critic | missing | |
[policy TD3Policy: TD3]
actor_target | translated | | see TD3's `model.actor_target`
[policy DQNPolicy: DQN]
q_net | same | |
q_net_target | same | |
make_q_net | different | | `make_q_net(ortho_init)` builds the online and the target network (SB3's takes no argument); override it to change the Q-network
"""


@dataclass(frozen=True)
class Entry:
    group: str
    name: str
    status: str
    ballast: str
    note: str


def parse(text: str) -> list[Entry]:
    """The entries of ``MODULES`` or ``MEMBERS``."""
    entries, group = [], ""
    for line in text.strip().splitlines():
        if line.startswith("["):
            group = line.strip("[]")
            continue
        name, status, ballast, note = (part.strip() for part in line.split("|", 3))
        if status not in STATUSES:
            raise ValueError(f"{group}.{name}: unknown status {status!r}")
        entries.append(Entry(group, name, status, ballast, note))
    return entries


def ballast_module_of(sb3_module: str) -> str:
    """Where a script's import goes once its imports are changed."""
    if sb3_module.startswith("sb3_contrib"):
        return "ballast.contrib"
    return "ballast" + sb3_module[len("stable_baselines3"):]


def resolve(dotted: str) -> Any:
    """The object at ``dotted`` (a module path, then attributes); raises ImportError/AttributeError."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"no module in {dotted}")


def resolves(dotted: str) -> bool:
    try:
        resolve(dotted)
    except (ImportError, AttributeError):
        return False
    return True


@cache
def model(name: str) -> Any:
    """A small model of the algorithm ``name`` (built once) whose members are checked."""
    import ballast

    env = "Pendulum-v1" if name in ("SAC", "TD3", "DDPG") else "CartPole-v1"
    return getattr(ballast, name)("MlpPolicy", env, device="cpu")


def member_targets(group: str) -> list[Any]:
    """The objects a member group describes: the models, or their policies."""
    header, algorithms = group.split(":")
    models = [model(name) for name in algorithms.split()]
    return [m.policy for m in models] if header.startswith("policy ") else models


@dataclass
class Check:
    entry: Entry
    resolves: bool
    problem: str = ""


def check_module_entry(entry: Entry) -> Check:
    at_sb3_path = resolves(f"{ballast_module_of(entry.group)}.{entry.name}")
    if entry.status in ("same", "translated"):
        if not entry.ballast or not resolves(entry.ballast):
            return Check(entry, at_sb3_path, f"{entry.ballast or '(no path)'} does not import")
        if not at_sb3_path:
            return Check(entry, at_sb3_path, f"not importable from {ballast_module_of(entry.group)}")
    elif entry.status == "different" and entry.ballast and not resolves(entry.ballast):
        return Check(entry, at_sb3_path, f"{entry.ballast} does not import")
    elif entry.status == "missing" and at_sb3_path:
        return Check(entry, at_sb3_path, f"importable from {ballast_module_of(entry.group)} but listed as missing: update the status")
    return Check(entry, at_sb3_path)


def check_member_entry(entry: Entry) -> Check:
    present = [hasattr(target, entry.name) for target in member_targets(entry.group)]
    if entry.status != "missing" and not all(present):
        return Check(entry, False, "absent on " + ", ".join(
            type(t).__name__ for t, p in zip(member_targets(entry.group), present) if not p))
    if entry.status == "missing" and all(present):
        return Check(entry, True, "present but listed as missing: update the status")
    return Check(entry, all(present))


def run_checks() -> list[Check]:
    return [check_module_entry(e) for e in parse(MODULES)] + [check_member_entry(e) for e in parse(MEMBERS)]


def member_title(group: str) -> str:
    """A member group's heading: "`PPO` (PPO)", or "`ActorCriticPolicy`: `model.policy` (PPO A2C)"."""
    header, algorithms = (part.strip() for part in group.split(":"))
    if header.startswith("policy "):
        classes = "/".join(f"`{name}`" for name in header.removeprefix("policy ").split("/"))
        return f"{classes}: `model.policy` ({algorithms})"
    return f"`{header}` ({algorithms})"


def markdown(checks: list[Check]) -> str:
    """The inventory as Markdown tables, one per SB3 module or class."""
    lines: list[str] = []
    group = None
    for c in checks:
        e = c.entry
        if e.group != group:
            group = e.group
            is_member = c in checks and e in parse(MEMBERS)
            title = member_title(group) if is_member else f"`{group}`"
            lines += ["", f"#### {title}", "", "| SB3 name | status | in Ballast | note |", "|---|---|---|---|"]
        where = f"`{e.ballast}`" if e.ballast else ""
        lines.append(f"| `{e.name}` | {e.status} | {where} | {e.note} |")
    return "\n".join(lines).strip() + "\n"


def summary(checks: list[Check]) -> str:
    modules = Counter(c.entry.status for c in checks if c.entry in MODULE_ENTRIES)
    members = Counter(c.entry.status for c in checks if c.entry not in MODULE_ENTRIES)
    def counts(counter: Counter) -> str:
        return ", ".join(f"{counter[s]} {s}" for s in STATUSES)
    return (f"module names ({sum(modules.values())}): {counts(modules)}\n"
            f"class members ({sum(members.values())}): {counts(members)}")


MODULE_ENTRIES = set(parse(MODULES))


MIGRATING_MD = Path(__file__).resolve().parents[1] / "docs" / "migrating-from-sb3.md"
#: The sentence of docs/migrating-from-sb3.md that gives the counts, and the heading its tables start at.
COUNTS = re.compile(r"(\(and sb3-contrib's masking names, QRDQN, TQC, CrossQ and RecurrentPPO\), )\d+ same, \d+ "
                    r"translated, \d+ different, \d+ missing(; of the \d+ public\s+methods and attributes of its "
                    r"algorithm and policy classes, )\d+ same, \d+ translated, \d+ different, \d+ missing")


def write_docs(checks: list[Check]) -> None:
    """Rewrite the tables of docs/migrating-from-sb3.md (from the first ``#### `stable_baselines3``` heading
    to the last inventory row) and the sentence with the counts."""
    text = MIGRATING_MD.read_text()
    tables = markdown(checks)
    last_row = tables.rstrip("\n").splitlines()[-1]
    start = text.index("#### `stable_baselines3`\n")
    end = text.index("\n", text.rindex("| `make_q_net` |")) + 1  # the last row of the last table
    text = text[:start] + tables + text[end:]
    modules = Counter(c.entry.status for c in checks if c.entry in MODULE_ENTRIES)
    members = Counter(c.entry.status for c in checks if c.entry not in MODULE_ENTRIES)
    counts = [", ".join(f"{counter[s]} {s}" for s in STATUSES) for counter in (modules, members)]
    text, found = COUNTS.subn(lambda m: f"{m[1]}{counts[0]}{m[2]}{counts[1]}", text)
    if found != 1 or last_row not in text:
        raise SystemExit(f"{MIGRATING_MD}: the counts' sentence or the tables' end was not found where expected")
    MIGRATING_MD.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the tables of docs/migrating-from-sb3.md")
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the tables and the counts in docs/migrating-from-sb3.md")
    args = parser.parse_args()
    checks = run_checks()
    if args.markdown:
        print(summary(checks) + "\n")
        print(markdown(checks))
        return
    if args.write_docs:
        write_docs(checks)
    print(summary(checks))
    problems = [c for c in checks if c.problem]
    for c in problems:
        print(f"  {c.entry.group} {c.entry.name} [{c.entry.status}]: {c.problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
