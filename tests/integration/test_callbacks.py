import pytest

import ballast
from ballast import PPO, StopTrainingOnRewardThreshold
from ballast.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback

SMALL = dict(n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")


def model(n_envs=1):
    return PPO("MlpPolicy", "CartPole-v1", n_envs=n_envs, **SMALL)


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


def test_hooks_run_in_order_and_see_step_locals():
    recorder = Recorder()
    model().learn(32, callback=recorder)
    rollout = ["rollout_start"] + ["step"] * 16 + ["rollout_end"]
    assert recorder.events == ["training_start"] + rollout * 2 + ["training_end"]
    assert {"infos", "rewards", "dones"} <= recorder.seen_locals
    assert recorder.n_calls == 32


def test_callback_list_stops_when_any_member_stops():
    recorder = Recorder()
    m = model()
    m.learn(10_000, callback=CallbackList([recorder, StopAfter(4)]))
    assert m.num_timesteps == 4
    assert recorder.events[-1] == "training_end"
    assert recorder.n_calls == 4


def test_eval_callback_saves_the_best_model(tmp_path):
    eval_cb = EvalCallback("CartPole-v1", n_eval_episodes=2, eval_freq=16, best_model_save_path=tmp_path,
                           seed=0, verbose=0)
    m = model()
    m.learn(64, callback=eval_cb)
    assert [steps for steps, _, _ in eval_cb.evaluations] == [16, 32, 48, 64]
    assert eval_cb.best_mean_reward == max(mean for _, mean, _ in eval_cb.evaluations)
    best = tmp_path / "best_model.zip"
    assert best.is_file()
    loaded = ballast.load(best)
    assert type(loaded) is PPO
    assert loaded.num_timesteps in [steps for steps, _, _ in eval_cb.evaluations]


def test_checkpoint_callback_writes_files(tmp_path):
    m = model(n_envs=2)
    m.learn(64, callback=CheckpointCallback(save_freq=8, save_path=tmp_path, name_prefix="ppo"))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"ppo_{steps}_steps.zip" for steps in (16, 32, 48, 64))
    assert ballast.load(tmp_path / "ppo_32_steps.zip").num_timesteps == 32


def test_stop_on_reward_threshold_stops_at_the_first_good_evaluation(tmp_path):
    stopper = StopTrainingOnRewardThreshold(reward_threshold=5.0)
    eval_cb = EvalCallback("CartPole-v1", callback_on_new_best=stopper, n_eval_episodes=2, eval_freq=10,
                           seed=0, verbose=0)
    m = model()
    m.learn(10_000, callback=eval_cb)
    # every CartPole episode lasts at least a few steps, so the first evaluation reaches 5
    assert m.num_timesteps == 10
    assert len(eval_cb.evaluations) == 1


def test_unreached_reward_threshold_does_not_stop():
    stopper = StopTrainingOnRewardThreshold(reward_threshold=1e9)
    eval_cb = EvalCallback("CartPole-v1", callback_on_new_best=stopper, n_eval_episodes=1, eval_freq=16,
                           verbose=0)
    m = model()
    m.learn(48, callback=eval_cb)
    assert m.num_timesteps == 48
    assert len(eval_cb.evaluations) == 3


def test_bad_callback_type_is_refused():
    with pytest.raises(TypeError, match="callback"):
        model().learn(16, callback=42)
