"""SB3's VecEnv API over Gymnasium vector envs: stepping semantics, make_vec_env, Monitor, the model's use of them."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from ballast import PPO, EvalCallback, evaluate_policy
from ballast.common.env_checker import check_env
from ballast.common.env_util import make_vec_env
from ballast.common.monitor import Monitor, load_results
from ballast.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecCheckNan,
    VecEnv,
    VecEnvWrapper,
    VecExtractDictObs,
    VecMonitor,
    VecTransposeImage,
    is_vecenv_wrapped,
    unwrap_vec_wrapper,
)
from ballast.envs import as_vector_env
from ballast.errors import (
    ConfigurationError,
    EnvError,
    LoadMonitorResultsError,
    MissingDependencyError,
    UnsupportedSpaceError,
)

SMALL = dict(n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")


class Steps(gym.Env):
    """Observation ``[t, length]``; reward ``t``; the episode ends after ``length`` steps (terminated or truncated)."""

    observation_space = spaces.Box(0.0, 100.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length=3, terminate=False):
        self.length, self.terminate, self.t = length, terminate, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0, self.length], np.float32), {"start": (options or {}).get("start", 0)}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        obs = np.array([self.t, self.length], np.float32)
        return obs, float(self.t), done and self.terminate, done and not self.terminate, {"t": self.t}

    def get_length(self):
        return self.length


def steps_fns():
    return [lambda: Steps(2, terminate=True), lambda: Steps(3, terminate=False)]


def check_sb3_stepping(vec_env):
    """Copy 0 terminates after 2 steps, copy 1 is truncated after 3: SB3's same-step autoreset by hand."""
    obs = vec_env.reset()
    assert obs.tolist() == [[0, 2], [0, 3]]
    assert vec_env.reset_infos == [{"start": 0}, {"start": 0}]
    expected_obs = [[[1, 2], [1, 3]], [[0, 2], [2, 3]], [[1, 2], [0, 3]], [[0, 2], [1, 3]]]
    expected_dones = [[False, False], [True, False], [False, True], [True, False]]
    expected_rewards = [[1, 1], [2, 2], [1, 3], [2, 1]]
    for t in range(4):
        obs, rewards, dones, infos = vec_env.step(np.zeros(2, dtype=np.int64))
        assert obs.tolist() == expected_obs[t]
        assert rewards.dtype == np.float32 and rewards.tolist() == expected_rewards[t]
        assert dones.dtype == bool and dones.tolist() == expected_dones[t]
        assert isinstance(infos, list) and len(infos) == 2
        for i in range(2):
            assert infos[i]["t"] == expected_rewards[t][i]
            truncated_end = bool(dones[i]) and i == 1
            assert infos[i]["TimeLimit.truncated"] is truncated_end
            if dones[i]:
                assert infos[i]["terminal_observation"].tolist() == [expected_rewards[t][i], 2 + i]
            else:
                assert "terminal_observation" not in infos[i]


def test_dummy_vec_env_steps_with_sb3_semantics():
    vec_env = DummyVecEnv(steps_fns())
    assert isinstance(vec_env, VecEnv) and vec_env.num_envs == 2
    assert vec_env.observation_space == Steps.observation_space and vec_env.action_space == Steps.action_space
    check_sb3_stepping(vec_env)
    assert [env.unwrapped.length for env in vec_env.envs] == [2, 3]
    vec_env.close()


def test_subproc_vec_env_steps_and_reaches_single_copies():
    vec_env = SubprocVecEnv([lambda: Monitor(Steps(2, terminate=True)), lambda: Steps(3)], start_method="fork")
    try:
        check_sb3_stepping(vec_env)
        assert vec_env.get_attr("length") == [2, 3]
        assert vec_env.env_method("get_length", indices=[1]) == [3]
        vec_env.set_attr("length", 5, indices=1)
        assert vec_env.get_attr("length", indices=1) == [5]
        assert vec_env.get_attr("length", indices=0) == [2]
        assert vec_env.env_is_wrapped(Monitor) == [True, False]
    finally:
        vec_env.close()


def test_seed_and_options_apply_to_the_next_reset_only():
    vec_env = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2)
    assert vec_env.seed(7) == [7, 8]
    first = vec_env.reset()
    expected = [gym.make("CartPole-v1").reset(seed=s)[0] for s in (7, 8)]
    np.testing.assert_array_equal(first, np.stack(expected))
    assert not np.array_equal(vec_env.reset(), first)  # the seeds were used once
    options_env = DummyVecEnv(steps_fns())
    options_env.set_options([{"start": 1}, {"start": 2}])
    options_env.reset()
    assert options_env.reset_infos == [{"start": 1}, {"start": 2}]


def test_model_get_env_is_an_sb3_view_that_keeps_training_in_step():
    model = PPO("MlpPolicy", Steps, n_envs=2, **SMALL)
    vec_env = model.get_env()
    assert isinstance(vec_env, VecEnv) and model.get_env() is vec_env
    assert isinstance(model.env, gym.vector.VectorEnv)
    # SB3's README loop
    obs = vec_env.reset()
    for _ in range(4):
        action, _ = model.predict(obs, deterministic=True)
        obs, rewards, dones, infos = vec_env.step(action)
    assert obs.tolist() == [[1, 3], [1, 3]]  # the next-step env gives SB3's same-step reset
    assert dones.tolist() == [False, False] and infos[0]["t"] == 1
    model.learn(16)
    assert model.num_timesteps == 16
    # the model stepped the env last: the view resets it before its next step
    obs, _, _, infos = vec_env.step(np.zeros(2, dtype=np.int64))
    assert obs.tolist() == [[1, 3], [1, 3]] and infos[0]["t"] == 1
    assert model._last_obs is None  # so learn resets too
    model.learn(16, reset_num_timesteps=False)
    assert model.num_timesteps == 32
    rollout = model.rollout_buffer.observations.array[:, :, 0]
    assert rollout[0].tolist() == [0, 0]


def test_an_sb3_env_given_to_the_model_is_what_get_env_returns():
    vec_env = DummyVecEnv(steps_fns())
    model = PPO("MlpPolicy", vec_env, **SMALL)
    assert model.get_env() is vec_env and model.n_envs == 2
    model.learn(16)
    check_sb3_stepping(vec_env)
    mean, _ = evaluate_policy(model, vec_env, n_eval_episodes=4)
    assert mean == pytest.approx((3 * 2 + 6 * 2) / 4)
    callback = EvalCallback(DummyVecEnv(steps_fns()), n_eval_episodes=2, eval_freq=1, verbose=0)
    model.learn(16, callback=callback)
    assert callback.evaluations and callback.evaluations[0][1] == pytest.approx((3 + 6) / 2)


class ScaleReward(VecEnvWrapper):
    """An SB3-style wrapper written against the VecEnv API."""

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs, rewards * 10, dones, infos


def test_custom_sb3_wrappers_are_stepped_by_the_model():
    model = PPO("MlpPolicy", ScaleReward(DummyVecEnv(steps_fns())), **SMALL)
    model.learn(16)
    returns = sorted({info["r"] for info in model.ep_info_buffer})
    assert returns == [30.0, 60.0]
    assert not isinstance(model.env, (DummyVecEnv, ScaleReward))


def test_make_vec_env_seeds_each_copy_and_writes_monitor_files(tmp_path):
    vec_env = make_vec_env("CartPole-v1", n_envs=3, seed=5, monitor_dir=str(tmp_path))
    assert isinstance(vec_env, DummyVecEnv)
    assert all(isinstance(env, Monitor) for env in vec_env.envs)
    obs = vec_env.reset()
    np.testing.assert_array_equal(obs, np.stack([gym.make("CartPole-v1").reset(seed=5 + i)[0] for i in range(3)]))
    for rank, env in enumerate(vec_env.envs):
        space = gym.spaces.Discrete(2)
        space.seed(5 + rank)
        assert [env.action_space.sample() for _ in range(8)] == [space.sample() for _ in range(8)]
    episodes = 0
    while episodes < 4:
        _, _, dones, infos = vec_env.step(np.ones(3, dtype=np.int64))
        episodes += int(dones.sum())
    vec_env.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["0.monitor.csv", "1.monitor.csv", "2.monitor.csv"]
    lines = (tmp_path / "0.monitor.csv").read_text().splitlines()
    header = json.loads(lines[0][1:])
    assert header["env_id"] == "CartPole-v1" and isinstance(header["t_start"], float)
    assert lines[1] == "r,l,t"
    first = lines[2].split(",")
    assert float(first[0]) == float(first[1])  # CartPole: reward 1 a step
    results = load_results(tmp_path)
    assert len(results) >= 4 and list(results.columns[-3:]) == ["r", "l", "t"]
    assert results["t"].is_monotonic_increasing


def test_monitor_results_survive_a_cut_last_row_and_need_pandas(tmp_path, monkeypatch):
    env = Monitor(Steps(2), filename=str(tmp_path / "run"), info_keywords=("t",))
    for _ in range(2):
        env.reset()
        for _ in range(2):
            env.step(0)
    assert env.get_episode_rewards() == [3.0, 3.0] and env.get_episode_lengths() == [2, 2]
    env.close()
    path = tmp_path / "run.monitor.csv"
    path.write_text(path.read_text() + "3.0,2")  # a crash in the middle of a row
    results = load_results(tmp_path)
    assert results["r"].tolist() == [3.0, 3.0] and results["t"].tolist()[0] >= 0
    with pytest.raises(LoadMonitorResultsError):
        load_results(tmp_path / "nothing")
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r"ballast-rl\[monitor\]"):
        load_results(tmp_path)


def test_vec_monitor_check_nan_and_extract_dict_obs():
    vec_env = VecMonitor(DummyVecEnv(steps_fns()))
    vec_env.reset()
    episodes = []
    for _ in range(3):
        _, _, dones, infos = vec_env.step(np.zeros(2, dtype=np.int64))
        episodes += [info["episode"] for info, done in zip(infos, dones) if done]
    assert [(e["r"], e["l"]) for e in episodes] == [(3.0, 2), (6.0, 3)]
    assert is_vecenv_wrapped(vec_env, VecMonitor) and unwrap_vec_wrapper(vec_env, VecCheckNan) is None

    checked = VecCheckNan(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), raise_exception=True)
    checked.reset()
    with pytest.raises(EnvError, match="nan in actions") as raised:
        checked.step(np.array([[np.nan]], dtype=np.float32))
    assert isinstance(raised.value, ValueError)  # what SB3's VecCheckNan raises

    class DictSteps(Steps):
        observation_space = spaces.Dict({"state": Steps.observation_space, "other": spaces.Discrete(3)})

        def reset(self, *, seed=None, options=None):
            obs, info = super().reset(seed=seed)
            return {"state": obs, "other": 1}, info

        def step(self, action):
            obs, *rest = super().step(action)
            return {"state": obs, "other": 1}, *rest

    extracted = VecExtractDictObs(DummyVecEnv([lambda: DictSteps(2, True)]), key="state")
    assert extracted.observation_space == Steps.observation_space
    extracted.reset()
    extracted.step(np.zeros(1, dtype=np.int64))
    _, _, dones, infos = extracted.step(np.zeros(1, dtype=np.int64))
    assert dones.tolist() == [True] and infos[0]["terminal_observation"].tolist() == [2, 2]


class Image(gym.Env):
    observation_space = spaces.Box(0, 255, (36, 36, 3), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def test_vec_transpose_image_builds_a_model_for_channels_first_images(tmp_path):
    vec_env = VecTransposeImage(DummyVecEnv([Image]))
    assert vec_env.observation_space.shape == (3, 36, 36)
    model = PPO("CnnPolicy", vec_env, **SMALL)
    assert model.observation_space.shape == (3, 36, 36)
    obs = vec_env.reset()
    assert obs.shape == (1, 3, 36, 36)
    path = model.save(tmp_path / "cnn")
    loaded = PPO.load(path, env=DummyVecEnv([Image]))  # the transposition is re-applied
    assert loaded.get_env().observation_space.shape == (3, 36, 36)
    assert VecTransposeImage(DummyVecEnv([Image]), skip=True).observation_space.shape == (36, 36, 3)


def test_as_vector_env_takes_every_kind_of_env():
    sb3 = DummyVecEnv(steps_fns())
    assert as_vector_env(sb3) is sb3.vector_env
    assert as_vector_env("CartPole-v1").num_envs == 1
    vector = gym.make_vec("CartPole-v1", num_envs=2)
    assert as_vector_env(vector) is vector


def test_check_env_reports_unsupported_spaces_before_training():
    check_env(Steps(3))

    class TextEnv(Steps):
        observation_space = spaces.Text(5)

    with pytest.raises(UnsupportedSpaceError, match="Text"):
        check_env(TextEnv())

    class WideActions(Steps):
        action_space = spaces.Box(0.0, 5.0, (1,), np.float32)

        def step(self, action):
            return super().step(0)

    with pytest.warns(UserWarning, match=r"is not \[-1, 1\] in every dimension"):
        check_env(WideActions())


def test_the_view_of_an_env_that_cannot_reset_one_copy_says_what_to_do():
    model = PPO("MlpPolicy", "CartPole-v1", n_envs=8, **SMALL)  # numpy-batched CartPole
    vec_env = model.get_env()
    assert vec_env.reset().shape == (8, 4)
    with pytest.raises(EnvError, match="vectorization='sync'"):
        vec_env.step(np.zeros(8, dtype=np.int64))
    synced = PPO("MlpPolicy", "CartPole-v1", n_envs=8, vectorization="sync", **SMALL).get_env()
    synced.reset()
    assert synced.step(np.zeros(8, dtype=np.int64))[0].shape == (8, 4)


def test_monitor_results_of_files_without_episodes(tmp_path):
    header = '#{"t_start": 100.0, "env_id": "Pendulum-v1"}\n'
    (tmp_path / "empty.monitor.csv").write_text(header + "r,l,t")  # no episode yet, no final newline
    empty = load_results(tmp_path)
    assert empty.empty and list(empty.columns) == ["index", "r", "l", "t"]
    # a whole last row without its newline is kept (the cut row of the test above is not)
    (tmp_path / "0.monitor.csv").write_text(header.replace("100.0", "90.0") + "r,l,t\n-1463.5,200,1.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = load_results(tmp_path)
    assert list(results.columns) == ["index", "r", "l", "t"] and results["r"].tolist() == [-1463.5]
    assert results["t"].tolist() == [1.5]  # seconds from the earliest t_start of the files
    (tmp_path / "cut.monitor.csv").write_text(header)
    with pytest.raises(LoadMonitorResultsError, match="no 'r,l,t' column line"):
        load_results(tmp_path)


class ResetWithoutOptionsArgument(Steps):
    """An env written for SB3, whose reset takes a seed but no options (SB3's DummyVecEnv runs it)."""

    def reset(self, seed=None):
        return super().reset(seed=seed)


@pytest.mark.parametrize("vec_env_class", [DummyVecEnv, SubprocVecEnv])
def test_envs_whose_reset_takes_no_options_run_as_in_sb3(vec_env_class):
    vec_env = vec_env_class([lambda: ResetWithoutOptionsArgument(2, terminate=True)] * 2)
    vec_env.seed(3)
    assert vec_env.reset().tolist() == [[0, 2], [0, 2]]
    assert vec_env.step(np.zeros(2, dtype=np.int64))[0].tolist() == [[1, 2], [1, 2]]
    vec_env.set_options({"start": 1})
    with pytest.raises(ConfigurationError, match=r"ResetWithoutOptionsArgument.reset takes no options"):
        vec_env.reset()
    vec_env.close()


def test_a_model_learns_on_an_env_whose_reset_takes_no_options():
    model = PPO("MlpPolicy", ResetWithoutOptionsArgument(3), **SMALL).learn(16)
    assert model.num_timesteps == 16 and model.env.envs[0].unwrapped.t > 0
    factory_model = PPO("MlpPolicy", lambda: ResetWithoutOptionsArgument(3), n_envs=2, **SMALL).learn(16)
    assert factory_model.num_timesteps == 16
    async_model = PPO("MlpPolicy", lambda: ResetWithoutOptionsArgument(3), n_envs=2, vectorization="async", **SMALL)
    assert async_model.learn(16).num_timesteps == 16
    async_model.env.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate_policy(model, model.env, n_eval_episodes=2)[0] == 6.0


def test_monitor_refuses_an_early_reset_unless_allowed():
    env = Monitor(Steps(3), allow_early_resets=False)
    env.reset()
    env.step(0)
    with pytest.raises(EnvError, match="Tried to reset an environment before done.*allow_early_resets=True"):
        env.reset()
    allowed = Monitor(Steps(3))
    allowed.reset()
    allowed.step(0)
    assert allowed.reset()[0].tolist() == [0, 3]


def test_subproc_has_attr_of_a_missing_attribute_keeps_the_workers():
    vec_env = SubprocVecEnv(steps_fns())
    assert not vec_env.has_attr("dummy") and vec_env.has_attr("length")
    vec_env.set_attr("dummy", 12)  # the workers still answer
    assert vec_env.get_attr("dummy") == [12, 12] and vec_env.has_attr("dummy")
    vec_env.close()


def test_factories_returning_one_env_for_several_copies_are_refused():
    env = gym.make("CartPole-v1")
    with pytest.raises(ConfigurationError, match="one env object for several of the 2 copies"):
        make_vec_env(lambda: env, n_envs=2)
    with pytest.raises(ConfigurationError, match="share one state"):
        DummyVecEnv([lambda: env, lambda: env])
