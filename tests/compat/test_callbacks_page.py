"""SB3's "Callbacks" page: the custom callback and every example of the callback collection.

Budgets are smaller (``# compat:`` comments): SB3's ``eval_freq``/``save_freq`` of 500-1000 steps
become 100, and the reward threshold of StopTrainingOnRewardThreshold is one the first evaluation
passes, so that ``learn(int(1e10))`` stops after one evaluation.
"""

import glob
import os

import numpy as np


def test_custom_callback():
    from ballast import PPO
    from ballast.common.callbacks import BaseCallback
    from ballast.common.vec_env import VecEnv

    class CustomCallback(BaseCallback):
        """
        A custom callback that derives from ``BaseCallback``.

        :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
        """
        def __init__(self, verbose: int = 0):
            super().__init__(verbose)
            self.events = []  # compat: added to check the order of the calls

        def _on_training_start(self) -> None:
            """
            This method is called before the first rollout starts.
            """
            self.events.append("training_start")

        def _on_rollout_start(self) -> None:
            """
            A rollout is the collection of environment interaction
            using the current policy.
            This event is triggered before collecting new samples.
            """
            self.events.append("rollout_start")

        def _on_step(self) -> bool:
            """
            This method will be called by the model after each call to `env.step()`.

            :return: If the callback returns False, training is aborted early.
            """
            return True

        def _on_rollout_end(self) -> None:
            """
            This event is triggered before updating the policy.
            """
            self.events.append("rollout_end")

        def _on_training_end(self) -> None:
            """
            This event is triggered before exiting the `learn()` method.
            """
            self.events.append("training_end")

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, n_envs=2)
    callback = CustomCallback()
    model.learn(256, callback=callback)

    assert callback.events == ["training_start"] + ["rollout_start", "rollout_end"] * 2 + ["training_end"]
    assert callback.n_calls == 128 and callback.num_timesteps == 256
    assert callback.model is model and isinstance(callback.training_env, VecEnv)
    assert callback.training_env.num_envs == 2
    assert {"new_obs", "rewards", "dones", "infos"} <= set(callback.locals)


def test_checkpoint_callback():
    from ballast import SAC
    from ballast.common.callbacks import CheckpointCallback

    # Save a checkpoint every 100 steps
    checkpoint_callback = CheckpointCallback(
        save_freq=100,  # compat: 1000 -> 100
        save_path="./logs/",
        name_prefix="rl_model",
        save_replay_buffer=True,
        save_vecnormalize=True,
    )

    model = SAC("MlpPolicy", "Pendulum-v1")
    model.learn(200, callback=checkpoint_callback)  # compat: 2000 -> 200

    assert os.path.isfile("logs/rl_model_100_steps.zip") and os.path.isfile("logs/rl_model_200_steps.zip")
    loaded = SAC.load("logs/rl_model_200_steps.zip")
    assert loaded.num_timesteps == 200


def test_eval_callback():
    import gymnasium as gym

    from ballast import SAC
    from ballast.common.callbacks import EvalCallback

    # Separate evaluation env
    eval_env = gym.make("Pendulum-v1")
    # Use deterministic actions for evaluation
    eval_callback = EvalCallback(eval_env, best_model_save_path="./logs/",
                                 log_path="./logs/", eval_freq=100,  # compat: 500 -> 100
                                 deterministic=True, render=False)

    model = SAC("MlpPolicy", "Pendulum-v1")
    model.learn(200, callback=eval_callback)  # compat: 5000 -> 200

    evaluations = np.load("logs/evaluations.npz")
    assert evaluations["timesteps"].tolist() == [100, 200]
    assert evaluations["results"].shape == (2, 5) and evaluations["ep_lengths"].shape == (2, 5)
    assert os.path.isfile("logs/best_model.zip")
    assert eval_callback.best_mean_reward == evaluations["results"].mean(axis=1).max()


def test_progress_bar_callback():
    from ballast import PPO
    from ballast.common.callbacks import ProgressBarCallback  # noqa: F401 (the page imports it)

    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=256)  # compat: n_steps 2048 -> 256
    # Display progress bar using the progress bar callback
    # this is equivalent to model.learn(512, callback=ProgressBarCallback())
    model.learn(512, progress_bar=True)  # compat: 100_000 -> 512
    assert model.num_timesteps == 512


def test_callback_list():
    import gymnasium as gym

    from ballast import SAC
    from ballast.common.callbacks import CallbackList, CheckpointCallback, EvalCallback

    checkpoint_callback = CheckpointCallback(save_freq=100, save_path="./logs/")  # compat: 1000 -> 100
    # Separate evaluation env
    eval_env = gym.make("Pendulum-v1")
    eval_callback = EvalCallback(eval_env, best_model_save_path="./logs/best_model",
                                 log_path="./logs/results", eval_freq=100)  # compat: 500 -> 100
    # Create the callback list
    callback = CallbackList([checkpoint_callback, eval_callback])

    model = SAC("MlpPolicy", "Pendulum-v1")
    # Equivalent to:
    # model.learn(200, callback=[checkpoint_callback, eval_callback])
    model.learn(200, callback=callback)  # compat: 5000 -> 200

    assert sorted(glob.glob("logs/rl_model_*_steps.zip")) == ["logs/rl_model_100_steps.zip",
                                                              "logs/rl_model_200_steps.zip"]
    assert os.path.isfile("logs/best_model/best_model.zip")
    assert np.load("logs/results/evaluations.npz")["timesteps"].tolist() == [100, 200]


def test_stop_training_on_reward_threshold():
    import gymnasium as gym

    from ballast import SAC
    from ballast.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    # Separate evaluation env
    eval_env = gym.make("Pendulum-v1")
    # Stop training when the model reaches the reward threshold
    callback_on_best = StopTrainingOnRewardThreshold(reward_threshold=-1e9, verbose=1)  # compat: -200 -> -1e9
    eval_callback = EvalCallback(eval_env, callback_on_new_best=callback_on_best, verbose=1,
                                 eval_freq=100, n_eval_episodes=2)  # compat: defaults 10000 and 5

    model = SAC("MlpPolicy", "Pendulum-v1", verbose=1)
    # Almost infinite number of timesteps, but the training will stop
    # early as soon as the reward threshold is reached
    model.learn(int(1e10), callback=eval_callback)

    assert model.num_timesteps == 100
    assert eval_callback.best_mean_reward > -1e9 and callback_on_best.parent is eval_callback


def test_every_n_timesteps():
    from ballast import PPO
    from ballast.common.callbacks import CheckpointCallback, EveryNTimesteps

    # this is equivalent to defining CheckpointCallback(save_freq=500)
    # checkpoint_callback will be triggered every 500 steps
    checkpoint_on_event = CheckpointCallback(save_freq=1, save_path="./logs/")
    event_callback = EveryNTimesteps(n_steps=500, callback=checkpoint_on_event)

    model = PPO("MlpPolicy", "Pendulum-v1", verbose=1, n_steps=512)  # compat: n_steps 2048 -> 512

    model.learn(2048, callback=event_callback)  # compat: 20_000 -> 2048

    saved = sorted(glob.glob("logs/rl_model_*_steps.zip"), key=os.path.getmtime)
    assert [os.path.basename(p) for p in saved] == [f"rl_model_{n}_steps.zip" for n in (500, 1000, 1500, 2000)]


def test_log_every_n_timesteps(capsys):
    from ballast import PPO
    from ballast.common.callbacks import LogEveryNTimesteps

    event_callback = LogEveryNTimesteps(n_steps=1_000)

    model = PPO("MlpPolicy", "Pendulum-v1", verbose=1, n_steps=512)  # compat: n_steps 2048 -> 512

    # Disable auto-logging by passing `log_interval=None`
    model.learn(2048, callback=event_callback, log_interval=None)  # compat: 10_000 -> 2048

    out = capsys.readouterr().out
    dumped = [int(line.split("|")[2]) for line in out.splitlines() if "total_timesteps" in line]
    assert dumped == [1000, 2000]


def test_stop_training_on_max_episodes():
    from ballast import A2C
    from ballast.common.callbacks import StopTrainingOnMaxEpisodes

    # Stops training when the model reaches the maximum number of episodes
    callback_max_episodes = StopTrainingOnMaxEpisodes(max_episodes=5, verbose=1)

    model = A2C("MlpPolicy", "Pendulum-v1", verbose=1)
    # Almost infinite number of timesteps, but the training will stop
    # early as soon as the max number of episodes is reached
    model.learn(int(1e10), callback=callback_max_episodes)

    # Five 200-step episodes (SB3: exactly 1000 steps; see test_examples.test_single_env_steps_are_env_steps)
    assert 1000 <= model.num_timesteps <= 1005 and callback_max_episodes.n_episodes == 5


def test_stop_training_on_no_model_improvement():
    import gymnasium as gym

    from ballast import SAC
    from ballast.common.callbacks import EvalCallback, StopTrainingOnNoModelImprovement

    # Separate evaluation env
    eval_env = gym.make("Pendulum-v1")
    # Stop training if there is no improvement after more than 3 evaluations
    stop_train_callback = StopTrainingOnNoModelImprovement(max_no_improvement_evals=3, min_evals=5, verbose=1)
    eval_callback = EvalCallback(eval_env, eval_freq=20, callback_after_eval=stop_train_callback, verbose=1,
                                 n_eval_episodes=1)  # compat: eval_freq 1000 -> 20, 5 episodes -> 1

    model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, verbose=1, learning_starts=1_000)  # compat: no
    # learning, so evaluations cannot improve (SB3's default learning_starts is 100)
    # Almost infinite number of timesteps, but the training will stop early
    # as soon as the number of consecutive evaluations without model
    # improvement is greater than 3
    model.learn(int(1e10), callback=eval_callback)

    # Training stopped at an evaluation, the 5th or later, after more than 3 without a new best.
    assert model.num_timesteps % 20 == 0 and model.num_timesteps >= 100
    assert stop_train_callback.no_improvement_evals > 3
