"""``ballast plot`` and ``ballast record`` on real run folders."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from ballast.cli import main

imageio = pytest.importorskip("imageio.v3")
pytest.importorskip("matplotlib")
pytest.importorskip("pygame")

FAST = ["--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", "ppo", "CartPole-v1", "--steps", "2048", "--out", str(out), "--seed", str(seed),
                         "--hyperparams", "ppo.yml", "--eval-episodes", "0", "--verbose", "0", *FAST]) == 0
    return out


def test_plot_command(runs: Path) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["plot", str(runs), "--out", str(runs / "curves.pdf"), "--smooth", "2"]) == 0
    assert "plotted 2 runs" in stdout.getvalue()
    assert (runs / "curves.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_record_command_writes_every_frame_of_the_episodes(runs: Path, suffix: str) -> None:
    out = runs / f"video{suffix}"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["record", str(runs / "ppo_CartPole-v1_s0"), "--out", str(out), "--episodes", "2", *FAST]) == 0
    returns = [float(r) for r in stdout.getvalue().split("episode returns:")[1].split()]
    assert len(returns) == 2
    frames = imageio.imread(out, index=None)
    steps = int(sum(returns))  # CartPole: a reward of 1 per step
    # A frame after each reset (the first, the one between the episodes and the one after the last) and each
    # step; a GIF merges identical consecutive frames, so it may hold fewer.
    if suffix == ".mp4":
        assert frames.shape[0] == steps + 3
    else:
        assert steps // 2 < frames.shape[0] <= steps + 3
    assert frames.shape[-1] == 3
    assert frames.std() > 0  # something was drawn
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes files, not mkstemp's 0o600


def test_record_refuses_other_formats(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", str(runs / "ppo_CartPole-v1_s0"), "--out", str(runs / "video.avi"), *FAST]) == 2
    assert "must end in .mp4 or .gif" in capsys.readouterr().err


def test_videos_during_training_leave_the_run_unchanged(tmp_path: Path) -> None:
    import torch

    from ballast import PPO
    from ballast.recording import VideoRecorderCallback

    def trained(callback: object) -> PPO:
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, seed=4, device="cpu")
        return model.learn(512, callback=callback)

    recorder = VideoRecorderCallback("CartPole-v1", 256, tmp_path / "videos", video_format="gif")
    with_videos, without = trained(recorder), trained(None)
    assert [p.name for p in recorder.videos] == ["video_256.gif", "video_512.gif"]
    assert all(p.is_file() for p in recorder.videos)
    for a, b in zip(with_videos.policy.parameters(), without.policy.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_videos_during_training_also_go_to_tensorboard(tmp_path: Path) -> None:
    import imageio.v2 as imageio
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ballast import PPO
    from ballast.recording import TENSORBOARD_VIDEO_WIDTH, VideoRecorderCallback

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, seed=4, device="cpu",
                tensorboard_log=str(tmp_path / "tb"))
    recorder = VideoRecorderCallback("CartPole-v1", 256, tmp_path / "videos", video_format="gif")
    model.learn(256, callback=recorder)
    (run,) = (tmp_path / "tb").iterdir()
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    (video,) = events.Images("video/episodes")
    assert video.step == 256
    # CartPole renders 600x400; every 2nd pixel is kept to fit 320 pixels.
    assert video.width == 300 <= TENSORBOARD_VIDEO_WIDTH and video.height == 200
    gif = imageio.mimread(video.encoded_image_string, format="GIF")
    assert len(gif) == len(imageio.mimread(recorder.videos[0], format="GIF")) > 1


def test_train_with_tensorboard_writes_event_files_into_the_run(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["train", "ppo", "CartPole-v1", "--steps", "256", "--seed", "0", "--out", str(tmp_path),
                 "--hyperparams-override", "n_steps=64", "batch_size=64", "n_envs=2", "--video-every", "128",
                 "--tensorboard", "--eval-episodes", "1", *FAST]) == 0
    (run,) = tmp_path.iterdir()
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.step for e in events.Images("video/episodes")] == [128, 256]
    assert [e.step for e in events.Scalars("video/mean_return")] == [128, 256]
