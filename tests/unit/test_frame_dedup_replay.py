"""Replay storage that keeps each frame of stacked images once gives back exactly what the storage
of whole observations gives: stacks, successors, n-step windows, prioritized draws, checkpoints."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from ballast import DQN, QRDQN, SAC
from ballast.buffers.frame_dedup import FrameDedupStorage, StackedFrames
from ballast.buffers.prioritized import PrioritizedReplayBuffer
from ballast.buffers.replay import ReplayBuffer
from ballast.buffers.storage import DictStorage
from ballast.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage
from ballast.envs.testing.fake_image import FakeImageEnv
from ballast.envs.testing.multi_input import SimpleMultiObsEnv
from ballast.errors import ConfigurationError

N_STACK = 4
FRAME = (6, 6, 1)
STACKED = spaces.Box(0, 255, (6, 6, N_STACK), np.uint8)
ACTIONS = spaces.Discrete(3)
LAST_AXIS = StackedFrames(N_STACK, 2)


def frame(env: int, episode: int, t: int) -> np.ndarray:
    """A frame no other (env, episode, t) has, never all zeros."""
    value = np.zeros(FRAME, np.uint8)
    value[0, 0, 0], value[0, 1, 0], value[0, 2, 0] = env + 1, episode + 1, t + 1
    return value


def stack(frames: list[np.ndarray]) -> np.ndarray:
    """The last N_STACK frames of an episode, zeros before its first one, as FrameStack lays them out."""
    window = [np.zeros(FRAME, np.uint8)] * max(0, N_STACK - len(frames)) + frames[-N_STACK:]
    return np.concatenate(window, axis=-1)


def buffers(capacity: int, cls: type = ReplayBuffer, **kwargs) -> tuple[ReplayBuffer, ReplayBuffer]:
    """A buffer of whole stacks and one that keeps each frame once, for 2 env copies."""
    plain = cls(STACKED, ACTIONS, capacity * 2, 2, **kwargs)
    dedup = cls(STACKED, ACTIONS, capacity * 2, 2, stacked_frames=LAST_AXIS, **kwargs)
    assert isinstance(dedup.observations, FrameDedupStorage)
    return plain, dedup


def write_episodes(targets: list[ReplayBuffer], rows: int, lengths: tuple[list[int], list[int]]) -> None:
    """``rows`` rows as the collector writes them with NEXT_STEP autoreset, for 2 env copies whose
    episodes last ``lengths[env]`` steps in turn; even episodes terminate, odd ones are truncated. The
    step after an episode's end holds its final observation and only resets that copy (invalid)."""
    state = [{"episode": 0, "t": 0, "frames": [frame(env, 0, 0)], "resetting": False} for env in range(2)]
    for _ in range(rows):
        observations = np.stack([stack(s["frames"]) for s in state])
        valid = np.array([not s["resetting"] for s in state])
        terminated, truncated = np.zeros(2, bool), np.zeros(2, bool)
        for env, s in enumerate(state):
            if s["resetting"]:  # the reset step: a new episode's first frame, after zeros
                s.update(episode=s["episode"] + 1, t=0, resetting=False)
                s["frames"] = [frame(env, s["episode"], 0)]
                continue
            s["t"] += 1
            s["frames"].append(frame(env, s["episode"], s["t"]))
            length = lengths[env][s["episode"] % len(lengths[env])]
            if s["t"] == length:
                terminated[env], truncated[env] = s["episode"] % 2 == 0, s["episode"] % 2 == 1
                s["resetting"] = True
        for buffer in targets:
            buffer.add(observations, np.array([1, 2]), np.full(2, 0.5), terminated & valid, truncated & valid, valid)


def stored(buffer: ReplayBuffer) -> np.ndarray:
    """Every entry's stacked observation, whichever storage holds them."""
    storage = buffer.observations
    return storage.stacked() if isinstance(storage, FrameDedupStorage) else storage.array


def assert_same_batches(plain: ReplayBuffer, dedup: ReplayBuffer, n: int = 500) -> None:
    """Every stored stack, and sampled transitions with their successors (1 and 3 steps), are equal."""
    rows = plain.rows()
    np.testing.assert_array_equal(stored(dedup)[:rows], plain.observations.array[:rows])
    for n_steps in (1, 3):
        ours = dedup.sample(n, torch.Generator().manual_seed(n_steps), n_steps=n_steps, gamma=0.9)
        theirs = plain.sample(n, torch.Generator().manual_seed(n_steps), n_steps=n_steps, gamma=0.9)
        assert ours.observations.dtype == torch.uint8 and ours.observations.shape == (n, *STACKED.shape)
        torch.testing.assert_close(ours.indices, theirs.indices, rtol=0, atol=0)
        torch.testing.assert_close(ours.observations, theirs.observations, rtol=0, atol=0)
        torch.testing.assert_close(ours.next_observations, theirs.next_observations, rtol=0, atol=0)
        torch.testing.assert_close(ours.discounts, theirs.discounts, rtol=0, atol=0)


def test_hand_built_episodes_of_two_env_copies_sample_as_whole_stacks() -> None:
    plain, dedup = buffers(capacity=30)
    write_episodes([plain, dedup], rows=22, lengths=([3, 5], [2, 6, 1]))  # not full yet
    assert_same_batches(plain, dedup)
    # successors across episode ends: a terminated or truncated step's next stack holds the final frame
    batch = dedup.sample(400, torch.Generator().manual_seed(0))
    ended = batch.discounts.numpy() == 0.0
    final = batch.next_observations[..., -1].numpy()[:, 0, 2]  # the t of the successor's newest frame
    assert ended.any() and (final == batch.observations[..., -1].numpy()[:, 0, 2] + 1).all()
    write_episodes([plain, dedup], rows=75, lengths=([3, 5], [2, 6, 1]))  # wraps around twice
    assert plain.full and dedup.full
    assert_same_batches(plain, dedup)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("layout", ["last", "first", "colour", "transposed"])
def test_the_collector_stores_what_the_plain_storage_stores(mode: AutoresetMode, layout: str) -> None:
    """The real collection loop (episode ends, final observations, padding rows, end_episodes between
    learn calls) writes the same rows into both storages."""
    shape = {"last": (6, 6, 1), "first": (1, 6, 6), "colour": (6, 6, 3), "transposed": (6, 6, 1)}[layout]
    makers = [lambda k=k: CountingImageEnv(k, shape) for k in range(2)]
    if layout == "transposed":
        env = VecTransposeImage(VecFrameStack(DummyVecEnv(makers), N_STACK))
        model = DQN("MlpPolicy", env, buffer_size=40, learning_starts=10**6, device="cpu", seed=0)
    else:
        env = gym.vector.SyncVectorEnv(makers, autoreset_mode=mode)
        model = DQN("MlpPolicy", env, frame_stack=N_STACK, buffer_size=40, learning_starts=10**6, device="cpu",
                    seed=0)
    dedup = model.replay_buffer
    axis = {"last": 2, "first": 0, "colour": 2, "transposed": 0}[layout]
    assert dedup.observations.layout == StackedFrames(N_STACK, axis)
    plain = ReplayBuffer(model.observation_space, model.action_space, 40, 2)
    model.replay_buffer = Tee(dedup, plain)
    model.learn(90)
    model.learn(40)  # reset_num_timesteps: the stored episodes are closed, the env reset
    model.learn(30, reset_num_timesteps=False)
    rows = plain.rows()
    assert plain.full and (~plain.valid[:rows]).any()
    np.testing.assert_array_equal(dedup.observations.stacked()[:rows], plain.observations.array[:rows])
    for n_steps in (1, 3):
        ours = dedup.sample(300, torch.Generator().manual_seed(1), n_steps=n_steps)
        theirs = plain.sample(300, torch.Generator().manual_seed(1), n_steps=n_steps)
        torch.testing.assert_close(ours.observations, theirs.observations, rtol=0, atol=0)
        torch.testing.assert_close(ours.next_observations, theirs.next_observations, rtol=0, atol=0)


class CountingImageEnv(gym.Env):
    """Frames that tell the env copy, episode and step apart; episodes of 2 to 5 steps that alternately
    terminate and truncate."""

    action_space = spaces.Discrete(2)

    def __init__(self, copy: int, shape: tuple[int, ...]) -> None:
        self.observation_space = spaces.Box(0, 255, shape, np.uint8)
        self.copy, self.episode, self.t = copy, -1, 0

    def _obs(self) -> np.ndarray:
        obs = np.full(self.observation_space.shape, self.copy + 1, np.uint8)
        obs.flat[1], obs.flat[2] = self.episode % 256, self.t
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        end = self.t >= 2 + (self.episode + self.copy) % 4
        return self._obs(), 1.0, end and self.episode % 2 == 0, end and self.episode % 2 == 1, {}


class Tee:
    """The model's buffer, with every write copied into a second buffer."""

    def __init__(self, primary: ReplayBuffer, copy: ReplayBuffer) -> None:
        self.__dict__.update(primary=primary, copy=copy)

    def __getattr__(self, name: str):
        return getattr(self.primary, name)

    def __len__(self) -> int:
        return len(self.primary)

    def add_observation(self, observations) -> None:
        self.primary.add_observation(observations)
        self.copy.add_observation(observations)

    def add_transition(self, *args) -> None:
        self.primary.add_transition(*args)
        self.copy.add_transition(*args)

    def add_padding(self, observations) -> None:
        self.primary.add_padding(observations)
        self.copy.add_padding(observations)

    def end_episodes(self, observations) -> None:
        self.primary.end_episodes(observations)
        self.copy.end_episodes(observations)


def test_atari_stacks_take_a_quarter_of_the_memory() -> None:
    atari = spaces.Box(0, 255, (84, 84, N_STACK), np.uint8)
    plain = ReplayBuffer(atari, ACTIONS, 20_000, 2)
    dedup = ReplayBuffer(atari, ACTIONS, 20_000, 2, stacked_frames=LAST_AXIS)
    frame_bytes = 84 * 84
    assert plain.observations.nbytes() == 20_000 * N_STACK * frame_bytes
    # one frame per entry, the ring's slack (195 frames a copy) and 10 bytes of bookkeeping per entry
    assert dedup.observations.nbytes() == (10_000 + 3 * 65 + 1) * 2 * frame_bytes + 20_000 * 10
    assert dedup.observations.nbytes() / plain.observations.nbytes() < 0.26
    assert dedup.nbytes() / plain.nbytes() < 0.26
    assert dedup.observations.frames.dtype == np.uint8


def test_state_round_trips_and_old_files_of_whole_stacks_load() -> None:
    plain, dedup = buffers(capacity=30)
    write_episodes([plain, dedup], rows=47, lengths=([4, 2], [3, 7]))
    tensors = dedup.state_tensors()
    assert "observations" not in tensors and tensors["observations.frames.frames"].dtype == torch.uint8
    restored = ReplayBuffer(STACKED, ACTIONS, 60, 2, stacked_frames=LAST_AXIS)
    restored.load_state_tensors(tensors)
    assert_same_batches(plain, restored)
    # files that kept whole stacks (every file saved before frames were deduplicated) load too ...
    converted = ReplayBuffer(STACKED, ACTIONS, 60, 2, stacked_frames=LAST_AXIS)
    converted.load_state_tensors(plain.state_tensors())
    assert_same_batches(plain, converted)
    # ... and frames load into a buffer of whole stacks
    whole = ReplayBuffer(STACKED, ACTIONS, 60, 2)
    whole.load_state_tensors(tensors)
    assert_same_batches(plain, whole)
    # they go on writing as the original does
    write_episodes([plain, restored, converted], rows=13, lengths=([2], [5]))
    assert_same_batches(plain, restored)
    assert_same_batches(plain, converted)
    with pytest.raises(ConfigurationError, match="does not fit"):
        ReplayBuffer(STACKED, ACTIONS, 80, 2, stacked_frames=LAST_AXIS).load_state_tensors(tensors)


def test_prioritized_draws_on_deduplicated_frames() -> None:
    plain, dedup = buffers(capacity=40, cls=PrioritizedReplayBuffer, alpha=0.7)
    write_episodes([plain, dedup], rows=57, lengths=([3, 5], [2, 6, 1]))
    for round_ in range(3):
        ours = dedup.sample(64, torch.Generator().manual_seed(round_))
        theirs = plain.sample(64, torch.Generator().manual_seed(round_))
        torch.testing.assert_close(ours.indices, theirs.indices, rtol=0, atol=0)
        torch.testing.assert_close(ours.weights, theirs.weights, rtol=0, atol=0)
        torch.testing.assert_close(ours.observations, theirs.observations, rtol=0, atol=0)
        torch.testing.assert_close(ours.next_observations, theirs.next_observations, rtol=0, atol=0)
        errors = torch.arange(64, dtype=torch.float32) * (round_ + 1)
        dedup.update_priorities(ours.indices, errors)
        plain.update_priorities(theirs.indices, errors)
    restored = PrioritizedReplayBuffer(STACKED, ACTIONS, 80, 2, stacked_frames=LAST_AXIS)
    restored.load_state_tensors(dedup.state_tensors())
    ours = restored.sample(64, torch.Generator().manual_seed(9))
    theirs = plain.sample(64, torch.Generator().manual_seed(9))
    torch.testing.assert_close(ours.observations, theirs.observations, rtol=0, atol=0)


def test_stacks_that_are_no_frame_stack_are_stored_whole_then_refused() -> None:
    dedup = ReplayBuffer(STACKED, ACTIONS, 200, 2, stacked_frames=LAST_AXIS)  # 100 rows, room for 64 such stacks
    rng = np.random.default_rng(0)
    stacks = rng.integers(1, 256, (65, 2, *STACKED.shape), dtype=np.uint8)
    for row in stacks[:64]:
        dedup.add(row, np.zeros(2), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))
    batch = dedup.sample(200, torch.Generator().manual_seed(0))
    expected = stacks[:64].reshape(-1, *STACKED.shape)[batch.indices.numpy()]
    np.testing.assert_array_equal(batch.observations.numpy(), expected)
    with pytest.raises(ConfigurationError, match="not the model's frame stack"):
        dedup.add(stacks[64], np.zeros(2), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))


def test_spaces_frames_cannot_be_deduplicated_in_are_refused() -> None:
    goal = spaces.Dict({"observation": STACKED, "achieved_goal": STACKED, "desired_goal": STACKED})
    with pytest.raises(ConfigurationError, match="Dict observations"):
        ReplayBuffer(goal, ACTIONS, 10, stacked_frames=LAST_AXIS)
    with pytest.raises(ConfigurationError, match="frames stacked along"):
        ReplayBuffer(spaces.Box(0, 255, (6, 6, 3), np.uint8), ACTIONS, 10, stacked_frames=LAST_AXIS)


def test_dict_observations_keep_whole_observations() -> None:
    model = DQN("MultiInputPolicy", SimpleMultiObsEnv(), frame_stack=N_STACK, buffer_size=100, device="cpu")
    assert isinstance(model.replay_buffer.observations, DictStorage)


def _image_model(cls: type, tmp_path: Path | None = None, **kwargs):
    env = DummyVecEnv([lambda: FakeImageEnv(discrete=cls is not SAC)] * 2)
    small = dict(policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16), net_arch=[16]))
    return cls("CnnPolicy", env, frame_stack=N_STACK, buffer_size=400, learning_starts=40, batch_size=8,
               train_freq=4, seed=0, device="cpu", **small, **kwargs)


@pytest.mark.parametrize("cls", [QRDQN, SAC])
def test_other_algorithms_store_frames_once(cls: type) -> None:
    model = _image_model(cls, **({"prioritized_replay": True} if cls is QRDQN else {}))
    assert isinstance(model.replay_buffer.observations, FrameDedupStorage)
    assert model.replay_buffer.observations.layout == StackedFrames(N_STACK, 2)
    model.learn(80)
    assert model.n_updates > 0


def test_dqn_learns_saves_and_resumes_with_frames_stored_once(tmp_path: Path) -> None:
    model = _image_model(DQN)
    assert isinstance(model.replay_buffer.observations, FrameDedupStorage)
    model.learn(200)
    assert model.n_updates > 0
    stored = model.replay_buffer.observations.stacked()
    path = model.save(tmp_path / "dqn", include_replay_buffer=True)
    resumed = [DQN.load(path, env=DummyVecEnv([FakeImageEnv] * 2), device="cpu") for _ in range(2)]
    for loaded in resumed:
        assert isinstance(loaded.replay_buffer.observations, FrameDedupStorage)
        np.testing.assert_array_equal(loaded.replay_buffer.observations.stacked(), stored)
        loaded.learn(60, reset_num_timesteps=False)
    for a, b in zip(resumed[0].policy.parameters(), resumed[1].policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the buffer's own file, into a new model and into the running one (its env goes on mid-episode)
    model.save_replay_buffer(tmp_path / "buffer")
    fresh = _image_model(DQN)
    fresh.load_replay_buffer(tmp_path / "buffer")
    np.testing.assert_array_equal(fresh.replay_buffer.observations.stacked(), stored)
    model.learn(46, reset_num_timesteps=False)  # 123 steps a copy: mid-episode (episodes of 10 steps)
    model.load_replay_buffer(tmp_path / "buffer")
    model.learn(40, reset_num_timesteps=False)
    assert model.replay_buffer.observations.spilled.any()  # the running env's stacks did not follow the file's
