# ruff: noqa: E501 (the inventory's table lines)
"""Every public name of Stable-Baselines3 (and sb3-contrib's masking names), checked against Ballast.

The inventory is data in this file: for each SB3 module, each public name with its status in Ballast
and a note; for SB3's algorithm and policy classes, each public method and attribute.

- ``same``: importable from the SB3 path with ``stable_baselines3`` replaced by ``ballast`` (sb3-contrib's
  names from ``ballast.contrib``), meaning what it means in SB3;
- ``translated``: the same name and use, working differently inside (the note says how);
- ``different``: deliberately different (the note says why and what a script meets); the Ballast path,
  if any, is the nearest Ballast name;
- ``missing``: not in Ballast (the note says what to use instead, or that it is being added).

Run it to check the inventory against the code (an entry whose status no longer matches is listed and
the exit code is 1), or with ``--markdown`` to print the tables of docs/migrating-from-sb3.md:

    python benchmarks/sb3_name_inventory.py
    python benchmarks/sb3_name_inventory.py --markdown > /tmp/table.md

SB3 version: 2.9.2, sb3-contrib 2.9.2. Members are checked on small models (PPO, A2C and DQN on
CartPole-v1; SAC, TD3 and DDPG on Pendulum-v1).
"""

from __future__ import annotations

import argparse
import importlib
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
A2C | same | ballast.A2C |
DDPG | same | ballast.DDPG |
DQN | same | ballast.DQN |
PPO | same | ballast.PPO |
SAC | same | ballast.SAC |
TD3 | same | ballast.TD3 |
HerReplayBuffer | missing | | no hindsight experience replay; `replay_buffer_class` is not accepted
get_system_info | missing | | checkpoints record versions in their JSON metadata instead
[stable_baselines3.common.callbacks]
BaseCallback | same | ballast.common.callbacks.BaseCallback | also `ballast.BaseCallback`
EventCallback | same | ballast.common.callbacks.EventCallback |
CallbackList | same | ballast.common.callbacks.CallbackList |
CheckpointCallback | translated | ballast.common.callbacks.CheckpointCallback | same files; `save_vecnormalize` writes no second file (statistics are in the checkpoint); replay buffer saved without pickle
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
make_atari_env | missing | | no Atari wrappers
[stable_baselines3.common.evaluation]
evaluate_policy | same | ballast.common.evaluation.evaluate_policy | keyword-only extras `seed`, `use_masking`; also takes an env id
[stable_baselines3.common.vec_env]
CloudpickleWrapper | missing | | Gymnasium's `AsyncVectorEnv` pickles the env factories itself
DummyVecEnv | translated | ballast.common.vec_env.DummyVecEnv | Gymnasium's `SyncVectorEnv` (same-step autoreset) inside
StackedObservations | missing | | frame stacking is `VecFrameStack` (a setting of the model)
SubprocVecEnv | translated | ballast.common.vec_env.SubprocVecEnv | Gymnasium's `AsyncVectorEnv` inside
VecCheckNan | same | ballast.common.vec_env.VecCheckNan | raises `ballast.EnvError` (a `RuntimeError`)
VecEnv | same | ballast.common.vec_env.VecEnv |
VecEnvWrapper | same | ballast.common.vec_env.VecEnvWrapper |
VecExtractDictObs | same | ballast.common.vec_env.VecExtractDictObs |
VecFrameStack | translated | ballast.common.vec_env.VecFrameStack | the stacking becomes a setting of the model
VecMonitor | same | ballast.common.vec_env.VecMonitor |
VecNormalize | translated | ballast.common.vec_env.VecNormalize | deliberately different inside: its settings and statistics become the model's; `save`/`load` write JSON + safetensors; SB3's pickle refused with `CheckpointError`
VecTransposeImage | translated | ballast.common.vec_env.VecTransposeImage | CHW as in SB3; models take HWC directly, so it is never added automatically
VecVideoRecorder | missing | | not provided
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
Video | same | ballast.common.logger.Video |
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
BaseModel | missing | | policies are `nn.Module`s without optimizer; no common base class
BasePolicy | missing | | see `BaseModel`
ActorCriticPolicy | different | ballast.policies.ActorCriticPolicy | not subclassable as in SB3 (`_build_mlp_extractor`); passing a policy class to an algorithm is not supported
ActorCriticCnnPolicy | missing | | `"CnnPolicy"` by name
MultiInputActorCriticPolicy | missing | | `"MultiInputPolicy"` by name
ContinuousCritic | different | ballast.policies.continuous.ContinuousCritic | Ballast's critic ensemble (stacked weights), not SB3's constructor
[stable_baselines3.common.utils]
set_random_seed | same | ballast.common.utils.set_random_seed |
get_device | same | ballast.common.utils.get_device | warns when CUDA is asked for and missing
explained_variance | missing | |
update_learning_rate | missing | | the algorithms own their optimizers
FloatSchedule | missing | | schedules: `ballast.schedules`
LinearSchedule | different | ballast.schedules.LinearSchedule | Ballast's `LinearSchedule(start, end)` has no `end_fraction`; not at SB3's path
ConstantSchedule | different | ballast.schedules.ConstantSchedule | not at SB3's path
get_schedule_fn | missing | | `ballast.schedules.as_schedule`
get_linear_fn | missing | | `ballast.schedules.linear(start, end)` (no `end_fraction`)
constant_fn | missing | | a number is a constant schedule
get_latest_run_id | missing | |
configure_logger | missing | | `ballast.common.logger.configure`
check_for_correct_spaces | missing | | `set_env` and `load(env=)` check spaces with `SpaceMismatchError`
check_shape_equal | missing | |
is_vectorized_box_observation | missing | | `predict` decides batching itself
is_vectorized_discrete_observation | missing | |
is_vectorized_multidiscrete_observation | missing | |
is_vectorized_multibinary_observation | missing | |
is_vectorized_dict_observation | missing | |
is_vectorized_observation | missing | |
safe_mean | missing | |
get_parameters_by_name | missing | |
zip_strict | missing | | `zip(..., strict=True)`
polyak_update | missing | | target updates are part of each algorithm
obs_as_tensor | missing | |
should_collect_more_steps | missing | |
get_system_info | missing | |
[stable_baselines3.common.buffers]
BaseBuffer | missing | | Ballast's buffers (`ballast.buffers`) are its own: per-space storages, ragged observations
ReplayBuffer | different | ballast.buffers.replay.ReplayBuffer | its own constructor and sample layout; `replay_buffer_class` is not accepted
RolloutBuffer | different | ballast.buffers.rollout.RolloutBuffer | its own constructor and layout
DictReplayBuffer | missing | | `ReplayBuffer` handles Dict spaces
DictRolloutBuffer | missing | | `RolloutBuffer` handles Dict spaces
NStepReplayBuffer | missing | | DQN's `n_steps=` option
[stable_baselines3.common.env_checker]
check_env | same | ballast.common.env_checker.check_env | its messages are Ballast's; also checks that Ballast supports the spaces
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
open_path | missing | |
open_path_str | missing | |
open_path_pathlib | missing | |
save_to_zip_file | missing | | `model.save`
load_from_zip_file | missing | | `ballast.checkpoint`; SB3 files: `ballast.import_sb3`
save_to_pkl | different | | no pickle, by design: ImportError
load_from_pkl | different | | no pickle, by design: ImportError
[stable_baselines3.common.preprocessing]
is_image_space_channels_first | missing | |
is_image_space | different | ballast.spaces.is_image_space | not at SB3's path
maybe_transpose | missing | | models take HWC and CHW images
preprocess_obs | missing | | preprocessing is part of each policy's encoder
get_obs_shape | missing | |
get_flattened_obs_dim | missing | |
get_action_dim | missing | |
check_for_nested_spaces | missing | | `ballast.spaces.check_observation_space` (nested Dicts are refused with `UnsupportedSpaceError`)
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
GymEnv | missing | | type aliases are not exported
GymObs | missing | |
GymResetReturn | missing | |
AtariResetReturn | missing | |
GymStepReturn | missing | |
AtariStepReturn | missing | |
TensorDict | missing | |
OptimizerStateDict | missing | |
MaybeCallback | missing | |
PyTorchObs | missing | |
Schedule | different | ballast.schedules.Schedule | Ballast's schedule types (data, saved as JSON)
RolloutBufferSamples | missing | |
DictRolloutBufferSamples | missing | |
ReplayBufferSamples | missing | |
DictReplayBufferSamples | missing | |
RolloutReturn | missing | |
TrainFrequencyUnit | missing | | `train_freq=(n, "episode")` is accepted
TrainFreq | missing | |
PolicyPredictor | missing | |
[stable_baselines3.common.atari_wrappers]
StickyActionEnv | missing | | no Atari wrappers
NoopResetEnv | missing | |
FireResetEnv | missing | |
EpisodicLifeEnv | missing | |
MaxAndSkipEnv | missing | |
ClipRewardEnv | missing | |
WarpFrame | missing | |
AtariWrapper | missing | |
[stable_baselines3.her]
GoalSelectionStrategy | missing | | no HER
HerReplayBuffer | missing | | no HER
[stable_baselines3.common.base_class]
BaseAlgorithm | different | ballast.algos.Algorithm | no 900-line base class; every algorithm derives from `Algorithm`
maybe_make_env | missing | | env ids are accepted wherever an env is
[stable_baselines3.common.on_policy_algorithm]
OnPolicyAlgorithm | missing | | PPO and A2C share `ballast.algos.on_policy`
[stable_baselines3.common.off_policy_algorithm]
OffPolicyAlgorithm | missing | | SAC, TD3, DDPG and DQN share `ballast.algos.off_policy`
[stable_baselines3.common.running_mean_std]
RunningMeanStd | different | ballast.policies.normalize.RunningMeanStd | an `nn.Module` with tensor buffers, part of the model
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
PPO | missing | | `from ballast import PPO`
MlpPolicy | missing | | policies are chosen by name: `"MlpPolicy"`
CnnPolicy | missing | | `"CnnPolicy"`
MultiInputPolicy | missing | | `"MultiInputPolicy"`
[stable_baselines3.a2c]
A2C | missing | | `from ballast import A2C`
MlpPolicy | missing | | `"MlpPolicy"`
[stable_baselines3.sac]
SAC | missing | | `from ballast import SAC`
MlpPolicy | missing | | `"MlpPolicy"`
[stable_baselines3.td3]
TD3 | missing | | `from ballast import TD3`
MlpPolicy | missing | | `"MlpPolicy"`
[stable_baselines3.ddpg]
DDPG | missing | | `from ballast import DDPG`
MlpPolicy | missing | | `"MlpPolicy"`
[stable_baselines3.dqn]
DQN | missing | | `from ballast import DQN`
MlpPolicy | missing | | `"MlpPolicy"`
[stable_baselines3.sac.policies]
Actor | different | ballast.policies.continuous.SquashedGaussianActor | Ballast's actor (stacked MLP), reached as `model.policy.actor`
SACPolicy | different | ballast.policies.continuous.SACPolicy | no optimizer inside, not subclassable as in SB3
LOG_STD_MIN | missing | |
LOG_STD_MAX | missing | |
[stable_baselines3.td3.policies]
Actor | different | ballast.policies.continuous.DeterministicActor | reached as `model.policy.actor`
TD3Policy | different | ballast.policies.continuous.TD3Policy | no optimizer inside
[stable_baselines3.dqn.policies]
QNetwork | different | ballast.policies.q_network.QNetwork | reached as `model.policy.q_net`
DQNPolicy | different | ballast.policies.q_network.DQNPolicy | no optimizer inside
[sb3_contrib]
MaskablePPO | same | ballast.contrib.MaskablePPO | `ballast.PPO` masks by itself whenever the env gives masks
RecurrentPPO | missing | | no recurrent policies
QRDQN | missing | |
TQC | missing | |
TRPO | missing | |
ARS | missing | |
CrossQ | missing | |
[sb3_contrib.common.wrappers]
ActionMasker | same | ballast.contrib.ActionMasker | also `ballast.envs.ActionMasker`
TimeFeatureWrapper | missing | |
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
learn | same | | returns the model
predict | same | | `state`/`episode_start` accepted and ignored (no recurrent policies); also `action_masks=`
save | same | | one zip of JSON + safetensors; returns the path; `exclude=`/`include=` and file objects: being added
load | same | | a classmethod, as in SB3; `custom_objects` become keyword arguments; `print_system_info`, `force_reset`: being added
get_env | same | | SB3's `VecEnv` API
set_env | same | | checks the spaces (`SpaceMismatchError`)
set_logger | same | |
logger | same | |
set_random_seed | same | |
get_parameters | missing | | being added
set_parameters | missing | | being added
get_vec_normalize_env | missing | | normalisation lives in the model (`normalize_observations=True`)
dump_logs | missing | | logs are dumped by `learn` every `log_interval` iterations
action_space | same | |
observation_space | same | |
device | same | |
env | translated | | the Gymnasium vector env the model steps; `get_env()` gives SB3's `VecEnv`
n_envs | same | |
num_timesteps | same | |
ep_info_buffer | same | |
ep_success_buffer | same | |
policy | translated | | Ballast's `nn.Module`, without optimizer (the algorithm owns it)
policy_class | same | |
policy_kwargs | same | | as given, turned into a typed `PolicyConfig` (`model.policy_config`)
seed | same | |
start_time | same | |
tensorboard_log | same | |
verbose | same | |
learning_rate | missing | | being added
lr_schedule | missing | | being added
policy_aliases | missing | | policies are named by string
[OnPolicyAlgorithm: PPO A2C]
train | same | |
rollout_buffer | different | | Ballast's `RolloutBuffer`
collect_rollouts | missing | | the rollout loop is a function of `ballast.algos.on_policy`
gamma | missing | | being added
gae_lambda | missing | | being added
ent_coef | missing | | being added
vf_coef | missing | | being added
max_grad_norm | missing | | being added
n_steps | missing | | being added
use_sde | missing | | being added
sde_sample_freq | missing | | being added
rollout_buffer_class | missing | | not accepted
rollout_buffer_kwargs | missing | | not accepted
[OffPolicyAlgorithm: SAC TD3 DDPG DQN]
train | same | |
replay_buffer | different | | Ballast's `ReplayBuffer` (`size()` as in SB3)
action_noise | same | |
save_replay_buffer | missing | | being added
load_replay_buffer | missing | | being added
collect_rollouts | missing | | the collection loop is a function of `ballast.algos.off_policy`
gamma | missing | | being added
tau | missing | | being added
batch_size | missing | | being added
buffer_size | missing | | being added
learning_starts | missing | | being added
train_freq | missing | | being added
gradient_steps | missing | | being added
optimize_memory_usage | missing | | being added
replay_buffer_class | missing | | not accepted
replay_buffer_kwargs | missing | | not accepted
[PPO: PPO]
batch_size | missing | | being added
n_epochs | missing | | being added
clip_range | missing | | being added (a schedule, as in SB3)
clip_range_vf | missing | | being added
normalize_advantage | missing | | being added
target_kl | missing | | being added
[A2C: A2C]
normalize_advantage | missing | | being added
[SAC: SAC]
actor | missing | | being added (`model.policy.actor` exists)
critic | missing | | being added (`model.policy.critic` exists)
critic_target | missing | | being added (`model.policy.critic_target` exists)
ent_coef | missing | | being added
ent_coef_optimizer | same | |
log_ent_coef | same | |
target_entropy | same | |
target_update_interval | missing | | being added
[TD3: TD3 DDPG]
actor | missing | | being added (`model.policy.actor` exists)
actor_target | missing | | being added
critic | missing | | being added
critic_target | missing | | being added
policy_delay | missing | | being added
target_policy_noise | missing | | being added
target_noise_clip | missing | | being added
[DQN: DQN]
q_net | missing | | being added (`model.policy.q_net` exists)
q_net_target | missing | | being added
exploration_rate | same | |
exploration_schedule | missing | | being added
exploration_initial_eps | missing | | being added
exploration_final_eps | missing | | being added
exploration_fraction | missing | | being added
target_update_interval | missing | | being added
max_grad_norm | missing | | being added
[policy BaseModel/BasePolicy: PPO SAC TD3 DQN]
observation_space | same | |
action_space | same | |
predict | missing | | being added
save | missing | | being added
load | missing | | being added (a classmethod)
device | missing | | being added
features_extractor | missing | | being added
set_training_mode | missing | | `policy.train(mode)`
optimizer | missing | | deliberately: the algorithm owns its optimizers: `model.optimizer` (PPO, A2C, DQN), `model.actor_optimizer`/`critic_optimizer` (SAC, TD3, DDPG)
make_features_extractor | missing | |
extract_features | missing | |
parameters_to_vector | missing | | `torch.nn.utils.parameters_to_vector(policy.parameters())`
load_from_vector | missing | |
obs_to_tensor | missing | |
is_vectorized_observation | missing | |
scale_action | missing | | action scaling is a module of the policy (`action_adapter`)
unscale_action | missing | |
reset_noise | same | |
[policy ActorCriticPolicy: PPO A2C]
forward | different | | returns Ballast's `PolicyOutput`, not `(actions, values, log_prob)`
evaluate_actions | same | |
predict_values | same | |
use_sde | same | |
get_distribution | missing | |
mlp_extractor | missing | | the layers are `trunk` (actor and critic stacked) or `actor_mlp`/`critic_mlp`
action_net | missing | | `action_head`
value_net | missing | | `value_head`
[policy SACPolicy/TD3Policy: SAC TD3]
actor | same | |
critic | same | |
critic_target | same | |
make_actor | missing | |
make_critic | missing | |
[policy TD3Policy: TD3]
actor_target | same | |
[policy DQNPolicy: DQN]
q_net | same | |
q_net_target | same | |
make_q_net | missing | |
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
        return Check(entry, at_sb3_path, f"now importable from {ballast_module_of(entry.group)}: update the status")
    return Check(entry, at_sb3_path)


def check_member_entry(entry: Entry) -> Check:
    present = [hasattr(target, entry.name) for target in member_targets(entry.group)]
    if entry.status != "missing" and not all(present):
        return Check(entry, False, "absent on " + ", ".join(
            type(t).__name__ for t, p in zip(member_targets(entry.group), present) if not p))
    if entry.status == "missing" and all(present):
        return Check(entry, True, "now present: update the status")
    return Check(entry, all(present))


def run_checks() -> list[Check]:
    return [check_module_entry(e) for e in parse(MODULES)] + [check_member_entry(e) for e in parse(MEMBERS)]


def markdown(checks: list[Check]) -> str:
    """The inventory as Markdown tables, one per SB3 module or class."""
    lines: list[str] = []
    group = None
    for c in checks:
        e = c.entry
        if e.group != group:
            group = e.group
            is_member = c in checks and e in parse(MEMBERS)
            title = f"`{group.split(':')[0]}` ({group.split(':')[1].strip()})" if is_member else f"`{group}`"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the tables of docs/migrating-from-sb3.md")
    args = parser.parse_args()
    checks = run_checks()
    if args.markdown:
        print(summary(checks) + "\n")
        print(markdown(checks))
        return
    print(summary(checks))
    problems = [c for c in checks if c.problem]
    for c in problems:
        print(f"  {c.entry.group} {c.entry.name} [{c.entry.status}]: {c.problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
