"""SB3's ``VecVideoRecorder``: when recordings start, what they hold, and that they change no training."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from ballast import PPO, ConfigurationError
from ballast.common.env_util import make_vec_env
from ballast.common.vec_env import DummyVecEnv, VecNormalize, VecVideoRecorder

imageio = pytest.importorskip("imageio.v3")
pytest.importorskip("imageio_ffmpeg")
pytest.importorskip("pygame")


def video_frames(path: Path) -> np.ndarray:
    return imageio.imread(path, index=None)


def test_recordings_start_on_the_trigger_and_hold_video_length_plus_one_pictures(tmp_path: Path) -> None:
    env = VecVideoRecorder(VecNormalize(make_vec_env("CartPole-v1", n_envs=1, seed=0)), str(tmp_path),
                           record_video_trigger=lambda step: step % 65 == 0, video_length=10,
                           name_prefix="agent-CartPole-v1")
    PPO("MlpPolicy", env, n_steps=64, n_epochs=1, seed=0).learn(128)
    env.close()
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == [
        "agent-CartPole-v1-step-0-to-step-10.mp4", "agent-CartPole-v1-step-65-to-step-75.mp4"]
    for path in tmp_path.glob("*.mp4"):
        frames = video_frames(path)
        assert frames.shape == (11, 400, 600, 3)
    assert not list(tmp_path.glob(".*")), "no temporary file is left behind"


def test_a_recording_is_the_tiled_picture_of_every_copy(tmp_path: Path) -> None:
    venv = make_vec_env("CartPole-v1", n_envs=4, seed=1)
    env = VecVideoRecorder(venv, str(tmp_path), record_video_trigger=lambda step: step == 0, video_length=3)
    env.reset()
    expected = [venv.render()]
    for _ in range(3):
        env.step(np.zeros(4, dtype=np.int64))
        expected.append(venv.render())
    [path] = tmp_path.glob("*.mp4")
    assert path.name == "rl-video-step-0-to-step-3.mp4"
    frames = video_frames(path)
    assert frames.shape == (4, 800, 1200, 3)  # 2 x 2 tiles of 400 x 600
    # MP4 compression changes pixels a little: each picture of the video is nearest to the rendering of
    # its own step (the carts move between steps).
    distance = np.abs(frames[:, None].astype(float) - np.stack(expected)[None].astype(float)).mean(axis=(2, 3, 4))
    assert distance.argmin(axis=1).tolist() == [0, 1, 2, 3]
    env.close()


def test_close_writes_a_recording_still_open(tmp_path: Path) -> None:
    env = VecVideoRecorder(make_vec_env("CartPole-v1", n_envs=1, seed=2), str(tmp_path),
                           record_video_trigger=lambda step: step == 2, video_length=100)
    env.reset()
    for _ in range(6):
        env.step(np.ones(1, dtype=np.int64))
    assert not list(tmp_path.glob("*.mp4"))
    env.close()
    [path] = tmp_path.glob("*.mp4")
    assert path.name == "rl-video-step-2-to-step-102.mp4"
    assert len(video_frames(path)) == 5  # the picture after step 2, then after steps 3 to 6


def test_recording_changes_no_training(tmp_path: Path) -> None:
    def trained(record: bool) -> list[torch.Tensor]:
        env = make_vec_env("CartPole-v1", n_envs=2, seed=3)
        if record:
            env = VecVideoRecorder(env, str(tmp_path), record_video_trigger=lambda step: step % 40 == 0,
                                   video_length=5)
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=2, seed=3).learn(256)
        env.close()
        return [p.detach().clone() for p in model.policy.parameters()]

    plain, recorded = trained(False), trained(True)
    assert len(list(tmp_path.glob("*.mp4"))) == 4  # steps 0, 40, 80 and 120 of 128
    for a, b in zip(plain, recorded, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_envs_without_rgb_array_rendering_are_refused(tmp_path: Path) -> None:
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(ConfigurationError, match="render_mode='rgb_array'"):
        VecVideoRecorder(venv, str(tmp_path), record_video_trigger=lambda step: True)
