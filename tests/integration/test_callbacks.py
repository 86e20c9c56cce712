"""Callbacks in short seeded runs: SB3's names, keywords and behaviour, and what self.locals holds."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import ballast
from ballast import DQN, PPO, SAC, StopTrainingOnRewardThreshold
from ballast.callbacks import FunctionCallback, SaveLatestCallback
from ballast.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    ConvertCallback,
    EvalCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
)
from ballast.common.logger import configure
from ballast.common.vec_env import DummyVecEnv, VecNormalize
from ballast.envs.make import autoreset_mode
from ballast.logger import Logger

SMALL = dict(n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")


def model(n_envs=1, **overrides):
    return PPO("MlpPolicy", "CartPole-v1", n_envs=n_envs, **{**SMALL, **overrides})


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class ScriptedReturns(gym.Env):
    """One-step episodes: the k-th episode played gets reward ``returns[k]`` whatever the action, and
    ``info["is_success"]`` when that reward is at least ``success_from``. CartPole's spaces."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, returns: list[float], success_from: float | None = None) -> None:
        self.returns, self.success_from, self.played = list(returns), success_from, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        reward = self.returns[self.played]
        self.played += 1
        info = {} if self.success_from is None else {"is_success": reward >= self.success_from}
        return np.zeros(4, np.float32), reward, True, False, info


class FixedLength(gym.Env):
    """Episodes of ``length`` steps, reward 1 per step."""

    observation_space = spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int = 5) -> None:
        self.length, self.t = length, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t >= self.length, False, {}


class StepInEpisode(gym.Wrapper):
    """Adds the env's own info key ``step_in_episode``."""

    def reset(self, **kwargs):
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        self.t += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "step_in_episode": self.t}


class StopAfter(BaseCallback):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def _on_step(self):
        return self.n_calls < self.calls


class Recorder(BaseCallback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.seen_locals = set()

    def _on_training_start(self):
        self.events.append("training_start")

    def _on_rollout_start(self):
        self.events.append("rollout_start")

    def _on_step(self):
        self.events.append("step")
        self.seen_locals |= set(self.locals)
        return True

    def _on_rollout_end(self):
        self.events.append("rollout_end")

    def _on_training_end(self):
        self.events.append("training_end")


class Steps(BaseCallback):
    """Records the timestep of each of its calls."""

    def __init__(self):
        super().__init__()
        self.at = []

    def _on_step(self):
        self.at.append(self.num_timesteps)
        return True


class EpisodeChecker(BaseCallback):
    """Checks each episode end's infos against returns and lengths summed from self.locals itself."""

    def __init__(self):
        super().__init__()
        self.ended = []

    def _on_training_start(self):
        n = self.training_env.num_envs
        self.returns, self.lengths, self.resetting = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
        self.next_step_reset = autoreset_mode(self.model.env) == AutoresetMode.NEXT_STEP

    def _on_step(self):
        loc = self.locals
        assert loc["self"] is self.model and isinstance(loc["infos"][0], dict)
        assert len(loc["infos"]) == len(loc["dones"]) == len(loc["rewards"]) == self.training_env.num_envs
        assert loc["dones"].dtype == bool
        for i, info in enumerate(loc["infos"]):
            if self.resetting[i]:  # Gymnasium's next-step autoreset: this step only reset copy i
                self.resetting[i] = False
                continue
            self.returns[i] += loc["rewards"][i]
            self.lengths[i] += 1
            if not loc["dones"][i]:
                assert "episode" not in info and "terminal_observation" not in info
                continue
            assert info["episode"]["r"] == pytest.approx(self.returns[i])
            assert info["episode"]["l"] == self.lengths[i] and info["episode"]["t"] > 0
            if self.next_step_reset:  # the final observation is the one the agent holds
                np.testing.assert_array_equal(info["terminal_observation"], loc["new_obs"][i])
            else:  # SB3's VecEnv and SAME_STEP: new_obs already holds the next episode's first observation
                assert not np.array_equal(info["terminal_observation"], loc["new_obs"][i])
            self.ended.append((int(self.lengths[i]), info["TimeLimit.truncated"], info.get("step_in_episode")))
            self.returns[i], self.lengths[i], self.resetting[i] = 0.0, 0, self.next_step_reset
        return True


# --- the callback protocol ---------------------------------------------------------------------
def test_callback_returning_false_stops_training():
    m = model(n_envs=2)
    m.learn(10_000, callback=StopAfter(3))
    assert m.num_timesteps == 3 * 2


def test_function_callback_returning_false_stops_training():
    calls = []

    def stop_at_five(locals_, globals_):
        calls.append(1)
        return len(calls) < 5

    m = model()
    m.learn(10_000, callback=stop_at_five)
    assert len(calls) == 5
    assert m.num_timesteps == 5


def test_a_function_returning_none_goes_on_but_convert_callback_stops_as_sb3():
    m = model()
    m.learn(32, callback=lambda locals_, globals_: None)  # learn(callback=fn): None means go on
    assert m.num_timesteps == 32
    m.learn(32, callback=ConvertCallback(lambda locals_, globals_: None))  # SB3's ConvertCallback: None stops
    assert m.num_timesteps == 1
    m.learn(32, callback=ConvertCallback(None))
    assert m.num_timesteps == 32


def test_hooks_run_in_order_and_see_step_locals():
    recorder = Recorder()
    model().learn(32, callback=recorder)
    rollout = ["rollout_start"] + ["step"] * 16 + ["rollout_end"]
    assert recorder.events == ["training_start"] + rollout * 2 + ["training_end"]
    assert {"infos", "rewards", "dones", "new_obs", "actions", "clipped_actions", "n_steps", "self",
            "total_timesteps", "tb_log_name"} <= recorder.seen_locals
    assert recorder.n_calls == 32


def test_init_callback_gives_env_logger_and_locals():
    recorder = Recorder()
    m = model()
    m.learn(16, callback=CallbackList([recorder]))
    assert recorder.model is m and recorder.training_env is m.get_env() and recorder.logger is m.logger
    assert recorder.locals["self"] is m
    assert recorder.globals["__name__"].startswith("ballast.algos")  # learn()'s module globals, as SB3's


def test_callback_list_stops_when_any_member_stops():
    recorder = Recorder()
    m = model()
    m.learn(10_000, callback=CallbackList([recorder, StopAfter(4)]))
    assert m.num_timesteps == 4
    assert recorder.events[-1] == "training_end"
    assert recorder.n_calls == 4


def test_bad_callback_type_is_refused():
    with pytest.raises(TypeError, match="callback"):
        model().learn(16, callback=42)


# --- self.locals during collection ---------------------------------------------------------------
def test_on_policy_locals_hold_sb3_infos_with_episodes_and_the_env_s_keys():
    checker = EpisodeChecker()
    env = lambda: StepInEpisode(gym.make("CartPole-v1", max_episode_steps=12))  # noqa: E731
    PPO("MlpPolicy", env, n_envs=2, **SMALL).learn(160, callback=checker)
    assert len(checker.ended) >= 6
    assert all(step == length for length, _, step in checker.ended)
    truncated = [length for length, time_limit, _ in checker.ended if time_limit]
    assert truncated and all(length == 12 for length in truncated)
    assert any(not time_limit for _, time_limit, _ in checker.ended)  # and some terminations


def test_off_policy_locals_hold_sb3_infos_and_both_kinds_of_actions():
    checker = EpisodeChecker()
    seen = []

    def record_actions(locals_, globals_):
        seen.append((locals_["actions"].copy(), locals_["buffer_actions"].copy(), locals_["num_collected_steps"]))

    env = lambda: gym.make("Pendulum-v1", max_episode_steps=20)  # noqa: E731
    SAC("MlpPolicy", env, n_envs=2, learning_starts=1000, seed=0, device="cpu").learn(
        84, callback=[checker, record_actions])
    # Two copies, episodes of 20 steps (the copies reset in the step that ends them): 2 each in 42 vector steps.
    assert [(length, time_limit) for length, time_limit, _ in checker.ended] == [(20, True)] * 4
    actions, buffer_actions, _ = seen[0]
    np.testing.assert_allclose(actions, 2.0 * buffer_actions, rtol=1e-6)  # Pendulum's torque bounds: +-2
    # SAC collects train_freq=1 step per collection, and counts steps per collection, as SB3.
    assert [counter for _, _, counter in seen] == [1] * 42


def test_infos_are_built_only_when_read():
    class CountsSteps(BaseCallback):
        def _on_step(self):
            self.infos = self.locals["infos"]
            return True

    counter = CountsSteps()
    model().learn(16, callback=counter)
    assert counter.infos._list is None  # never read: never converted
    assert counter.infos[0]["TimeLimit.truncated"] is False and counter.infos._list is not None


# --- EvalCallback ----------------------------------------------------------------------------------
def test_eval_callback_saves_the_best_model(tmp_path):
    eval_cb = EvalCallback("CartPole-v1", n_eval_episodes=2, eval_freq=16, best_model_save_path=tmp_path,
                           seed=0, verbose=0)
    m = model()
    m.learn(64, callback=eval_cb)
    assert eval_cb.evaluations_timesteps == [16, 32, 48, 64]
    assert [steps for steps, _, _ in eval_cb.evaluations] == [16, 32, 48, 64]
    assert eval_cb.best_mean_reward == max(mean for _, mean, _ in eval_cb.evaluations)
    assert eval_cb.last_mean_reward == eval_cb.evaluations[-1][1]
    best = tmp_path / "best_model.zip"
    assert best.is_file()
    loaded = ballast.load(best)
    assert type(loaded) is PPO
    assert loaded.num_timesteps in [steps for steps, _, _ in eval_cb.evaluations]


def test_every_evaluation_is_logged_at_the_step_it_was_measured(tmp_path):
    # Four evaluations inside one rollout of 64 steps: four rows, then the iteration's own row.
    eval_env = ScriptedReturns([1.0, 2.0, 3.0, 4.0])
    eval_cb = EvalCallback(eval_env, n_eval_episodes=1, eval_freq=16, verbose=0, warn=False)
    m = model(n_steps=64, batch_size=64)
    m.set_logger(Logger(tmp_path, verbose=0))
    m.learn(64, callback=eval_cb)
    rows = csv_rows(tmp_path / "progress.csv")
    assert [(r["time/total_timesteps"], r["eval/mean_reward"], r["eval/mean_ep_length"]) for r in rows[:4]] == [
        ("16", "1.0", "1.0"), ("32", "2.0", "1.0"), ("48", "3.0", "1.0"), ("64", "4.0", "1.0")]
    assert rows[4]["time/total_timesteps"] == "64" and rows[4]["eval/mean_reward"] == ""
    assert rows[4]["train/value_loss"] != ""
    assert [row.get("eval/mean_reward") for row in m.logger.history] == [1.0, 2.0, 3.0, 4.0, None]


def test_off_policy_evaluations_are_logged_at_their_steps(tmp_path):
    eval_cb = EvalCallback(ScriptedReturns([2.0, 4.0, 6.0, 8.0]), n_eval_episodes=1, eval_freq=50, verbose=0,
                           warn=False)
    m = DQN("MlpPolicy", "CartPole-v1", learning_starts=1000, seed=0, device="cpu")
    m.set_logger(Logger(tmp_path, verbose=0))
    m.learn(200, callback=eval_cb)
    rows = [r for r in csv_rows(tmp_path / "progress.csv") if r["eval/mean_reward"]]
    assert [(r["time/total_timesteps"], r["eval/mean_reward"]) for r in rows] == [
        ("50", "2.0"), ("100", "4.0"), ("150", "6.0"), ("200", "8.0")]


def test_evaluations_npz_has_sb3_s_layout(tmp_path):
    returns = [1.0, 2.0, 3.0, 4.0, 6.0, 5.0, 0.0, 1.0]
    eval_cb = EvalCallback(ScriptedReturns(returns, success_from=3.0), n_eval_episodes=2, eval_freq=8,
                           log_path=tmp_path / "logs", verbose=0, warn=False)
    model().learn(32, callback=eval_cb)
    results = [[1.0, 2.0], [3.0, 4.0], [6.0, 5.0], [0.0, 1.0]]
    with np.load(tmp_path / "logs" / "evaluations.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["ep_lengths", "results", "successes", "timesteps"]
        np.testing.assert_array_equal(data["timesteps"], [8, 16, 24, 32])
        np.testing.assert_array_equal(data["results"], results)
        np.testing.assert_array_equal(data["ep_lengths"], np.ones((4, 2)))
        np.testing.assert_array_equal(data["successes"], [[False, False], [True, True], [True, True],
                                                          [False, False]])
    assert eval_cb.evaluations_results == results
    assert eval_cb.best_mean_reward == 5.5 and eval_cb.last_mean_reward == 0.5
    assert not list((tmp_path / "logs").glob("*.tmp"))


@pytest.mark.parametrize(("returns", "max_no_improvement", "min_evals", "stop_at_evaluation"), [
    # best after each evaluation: 1 2 2 2 3 3 3 3 -> no improvement at 3, 4 | 6, 7, 8: the third in a row stops
    ([1, 2, 2, 1, 3, 3, 3, 3, 3, 3], 2, 0, 8),
    # never improves after the first; evaluations 1-3 are not counted, 4, 5, 6 are: the third stops
    ([1] * 10, 2, 3, 6),
    ([5, 4, 3, 2, 1, 0, 0, 0], 0, 0, 2),
])
def test_stop_on_no_model_improvement_stops_at_the_hand_computed_evaluation(
        returns, max_no_improvement, min_evals, stop_at_evaluation):
    stopper = StopTrainingOnNoModelImprovement(max_no_improvement, min_evals=min_evals)
    eval_cb = EvalCallback(ScriptedReturns(returns), callback_after_eval=stopper, n_eval_episodes=1, eval_freq=4,
                           verbose=0, warn=False)
    m = model()
    m.learn(10_000, callback=eval_cb)
    assert len(eval_cb.evaluations_results) == stopper.n_calls == stop_at_evaluation
    assert m.num_timesteps == 4 * stop_at_evaluation


def test_stop_on_reward_threshold_at_the_first_evaluation_reaching_it():
    stopper = StopTrainingOnRewardThreshold(reward_threshold=5.0)
    eval_cb = EvalCallback(ScriptedReturns([1.0, 4.0, 5.0, 9.0]), callback_on_new_best=stopper,
                           n_eval_episodes=1, eval_freq=10, verbose=0, warn=False)
    m = model()
    m.learn(10_000, callback=eval_cb)
    assert m.num_timesteps == 30
    assert stopper.parent is eval_cb and stopper.n_calls == 3  # called at each new best


def test_callbacks_in_a_list_under_an_eval_callback_see_it_as_their_parent():
    stopper = StopTrainingOnRewardThreshold(reward_threshold=5.0)
    eval_cb = EvalCallback(ScriptedReturns([1.0, 4.0, 5.0, 9.0]), callback_on_new_best=CallbackList([stopper]),
                           n_eval_episodes=1, eval_freq=10, verbose=0, warn=False)
    m = model()
    m.learn(10_000, callback=eval_cb)
    assert stopper.parent is eval_cb and m.num_timesteps == 30


def test_unreached_reward_threshold_does_not_stop():
    stopper = StopTrainingOnRewardThreshold(reward_threshold=1e9)
    eval_cb = EvalCallback("CartPole-v1", callback_on_new_best=stopper, n_eval_episodes=1, eval_freq=16,
                           verbose=0)
    m = model()
    m.learn(48, callback=eval_cb)
    assert m.num_timesteps == 48
    assert len(eval_cb.evaluations) == 3


def test_stop_callbacks_outside_an_eval_callback_say_so():
    with pytest.raises(ballast.ConfigurationError, match="EvalCallback"):
        model().learn(16, callback=StopTrainingOnRewardThreshold(1.0))


# --- other callbacks -------------------------------------------------------------------------------
def test_stop_on_max_episodes_counts_the_episodes_of_every_copy():
    # Two copies, episodes of 5 steps: both end episodes at vector steps 5, 10, 15;
    # 3 per copy make 6, reached at step 15.
    stopper = StopTrainingOnMaxEpisodes(max_episodes=3)
    m = PPO("MlpPolicy", FixedLength, n_envs=2, **SMALL)
    m.learn(10_000, callback=stopper)
    assert stopper.n_episodes == 6 and m.num_timesteps == 15 * 2


def test_every_n_timesteps_runs_its_callback_every_n_steps():
    child = Steps()
    model(n_envs=2, n_steps=8, batch_size=16).learn(64, callback=EveryNTimesteps(n_steps=10, callback=child))
    assert child.at == [10, 20, 30, 40, 50, 60]
    assert child.parent is not None


def test_eval_callback_runs_callback_after_eval_after_every_evaluation():
    child = Steps()
    model().learn(48, callback=EvalCallback(ScriptedReturns([3, 2, 1]), callback_after_eval=child, n_eval_episodes=1,
                                            eval_freq=16, verbose=0, warn=False))
    assert child.at == [16, 32, 48]


def test_log_every_n_timesteps_writes_the_log_by_steps(tmp_path):
    m = model()
    m.set_logger(Logger(tmp_path, verbose=0))
    m.learn(96, callback=LogEveryNTimesteps(n_steps=32), log_interval=None)
    rows = csv_rows(tmp_path / "progress.csv")
    # At 32, 64 and 96 (during rollouts 2, 4 and 6: iterations 1, 3, 5 done); no dump of learn's own
    # (log_interval=None), as in SB3.
    assert [(r["time/total_timesteps"], r["time/iterations"]) for r in rows] == [("32", "1"), ("64", "3"), ("96", "5")]


def test_checkpoint_callback_names_files_as_sb3(tmp_path):
    m = model(n_envs=2)
    m.learn(64, callback=CheckpointCallback(save_freq=8, save_path=tmp_path / "ckpt", name_prefix="ppo",
                                            save_vecnormalize=True))
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == sorted(f"ppo_{steps}_steps.zip" for steps in (16, 32, 48, 64))
    assert ballast.load(tmp_path / "ckpt" / "ppo_32_steps.zip").num_timesteps == 32
    model().learn(16, callback=CheckpointCallback(16, tmp_path))
    assert (tmp_path / "rl_model_16_steps.zip").is_file()


def test_checkpoint_callback_saves_the_replay_buffer_and_vec_normalize_as_sb3(tmp_path):
    # SB3's test_checkpoint_additional_info: the files and their names, and that they load back.
    vec_env = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    m = SAC("MlpPolicy", vec_env, learning_starts=1000, buffer_size=500, seed=0, device="cpu")
    m.learn(40, callback=CheckpointCallback(20, tmp_path, name_prefix="sac", save_replay_buffer=True,
                                            save_vecnormalize=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"sac_{kind}{steps}_steps.{suffix}" for steps in (20, 40)
        for kind, suffix in (("", "zip"), ("replay_buffer_", "pkl"), ("vecnormalize_", "pkl")))
    loaded = SAC.load(tmp_path / "sac_40_steps.zip")
    loaded.load_replay_buffer(tmp_path / "sac_replay_buffer_40_steps.pkl")
    assert len(loaded.replay_buffer) == 40
    statistics = VecNormalize.load(tmp_path / "sac_vecnormalize_40_steps.pkl",
                                   DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    np.testing.assert_allclose(statistics.obs_rms.mean, vec_env.obs_rms.mean)
    assert statistics.obs_rms.count > 1


def test_save_latest_callback_keeps_one_file(tmp_path):
    m = model()
    m.learn(64, callback=SaveLatestCallback(32, tmp_path / "latest.zip"))
    assert ballast.load(tmp_path / "latest.zip").num_timesteps == 64


def test_set_logger_with_configure_writes_sb3_s_files(tmp_path):
    m = model()
    logger = configure(str(tmp_path), ["csv", "json"])
    m.set_logger(logger)
    recorder = Recorder()
    m.learn(32, callback=recorder)
    assert m.logger is logger and recorder.logger is logger
    rows = csv_rows(tmp_path / "progress.csv")
    assert [r["time/total_timesteps"] for r in rows] == ["16", "32"]
    assert all(r["train/value_loss"] for r in rows)
    assert (tmp_path / "progress.json").read_text().count("\n") == 2
    m.learn(16, reset_num_timesteps=False, log_interval=None)
    m.dump_logs(iteration=7)  # SB3's public name: one more row, written now
    rows = csv_rows(tmp_path / "progress.csv")
    assert [(r["time/total_timesteps"], r["time/iterations"]) for r in rows[2:]] == [("48", "7")]


def test_function_callback_sees_the_same_locals():
    seen = []
    m = model()
    m.learn(16, callback=FunctionCallback(lambda locals_, globals_: seen.append(locals_)))
    assert seen[0]["self"] is m and "infos" in seen[0] and isinstance(seen[0]["infos"][0], dict)


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_rollout_success_rate_reads_the_last_step_of_each_episode(algorithm, tmp_path):
    # The last step's info arrives as final_info (the vector env resets in the same step); a reset's
    # info (here without is_success) must not hide it. Rewards 0..15, success from 10: 6 of 16.
    returns = [float(r) for r in range(16)]
    env = ScriptedReturns(returns, success_from=10.0)
    if algorithm == "ppo":
        m = PPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    else:
        m = DQN("MlpPolicy", env, learning_starts=100, buffer_size=100, seed=0, device="cpu")
    m.set_logger(configure(str(tmp_path), ["csv"]))
    m.learn(16, log_interval=1)
    assert list(m.ep_success_buffer) == [float(r >= 10.0) for r in returns]
    assert float(csv_rows(tmp_path / "progress.csv")[-1]["rollout/success_rate"]) == pytest.approx(6 / 16)


def test_eval_callback_gives_an_eval_vec_normalize_the_training_statistics():
    train_env = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    eval_env = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]), training=False, norm_reward=False)
    original_obs = train_env.reset()
    m = PPO("MlpPolicy", train_env, **SMALL)
    m.learn(32, callback=EvalCallback(eval_env, eval_freq=16, n_eval_episodes=1, warn=False, verbose=0))
    assert not np.allclose(train_env.normalize_obs(original_obs), original_obs)
    np.testing.assert_allclose(eval_env.normalize_obs(original_obs), train_env.normalize_obs(original_obs))
