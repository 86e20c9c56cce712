"""The logger: SB3's record/record_mean/dump and output formats, and Ballast's shorthand Logger."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ballast.common.logger import DISABLED, Video
from ballast.errors import ConfigurationError
from ballast.log_formats import FormatUnsupportedError, HParam, HumanOutputFormat, JSONOutputFormat
from ballast.logger import Logger, configure


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_second_logger_continues_the_file_with_old_and_new_columns(tmp_path: Path) -> None:
    first = Logger(tmp_path, verbose=0)
    first.record("eval/mean_reward", 10.0)
    first.record("train/loss", 1.5)
    first.dump(100)
    second = Logger(tmp_path, verbose=0)
    second.record("train/loss", 0.5)
    second.record("train/new_metric", 3.0)
    second.dump(200)
    rows = _rows(tmp_path / "progress.csv")
    assert [r["time/total_timesteps"] for r in rows] == ["100", "200"]
    assert rows[0]["eval/mean_reward"] == "10.0" and rows[1]["eval/mean_reward"] == ""
    assert rows[1]["train/new_metric"] == "3.0" and rows[0]["train/new_metric"] == ""


def test_configure_starts_a_fresh_csv_as_sb3(tmp_path: Path) -> None:
    (tmp_path / "progress.csv").write_text("old,columns\n1,2\n")
    logger = configure(tmp_path, ["csv"])
    logger.record("a", 1)
    logger.dump(5)
    assert _rows(tmp_path / "progress.csv") == [{"a": "1", "time/total_timesteps": "5"}]


def test_stdout_table_groups_keys_by_prefix_as_sb3() -> None:
    stream = io.StringIO()
    logger = Logger(verbose=1, stream=stream)
    logger.record("rollout/ep_rew_mean", 12.5)
    logger.record("train/n_updates", 7)
    logger.record_mean("train/loss", 1.0)
    logger.record_mean("train/loss", 3.0)
    written = logger.dump(64)
    assert written == {"rollout/ep_rew_mean": 12.5, "time/total_timesteps": 64.0, "train/loss": 2.0,
                       "train/n_updates": 7.0}
    # Floats as f"{v:<8.3g}" (left-aligned in 8 characters), integers as they are; widths: the longest
    # key ("   total_timesteps", 18) and value (8), dashes 18 + 8 + 7.
    assert stream.getvalue().splitlines() == [
        "---------------------------------",
        "| rollout/           |          |",
        "|    ep_rew_mean     | 12.5     |",
        "| time/              |          |",
        "|    total_timesteps | 64       |",
        "| train/             |          |",
        "|    loss            | 2        |",
        "|    n_updates       | 7        |",
        "---------------------------------",
    ]


def test_record_mean_of_numbers_and_tensors_is_read_before_the_dump() -> None:
    logger = Logger(verbose=0)
    logger.record_mean("loss", 1.0)
    logger.record_mean("loss", torch.tensor(2.0))
    logger.record_mean("loss", torch.tensor(6.0))
    logger.record_mean("loss", 3.0)
    assert float(logger.name_to_value["loss"]) == pytest.approx((1 + 2 + 6 + 3) / 4)
    assert logger.name_to_count["loss"] == 4
    assert logger.dump(1)["loss"] == pytest.approx(3.0)
    assert "loss" not in logger.name_to_value


def test_record_replaces_and_dump_clears() -> None:
    logger = Logger(verbose=0)
    logger.record("x", 1.0)
    logger.record("x", 2.0)
    assert logger.dump(10) == {"time/total_timesteps": 10.0, "x": 2.0}
    assert logger.dump(20) == {}  # nothing recorded since
    logger.record("time/total_timesteps", 7)
    assert logger.dump(99)["time/total_timesteps"] == 7.0  # recorded values win over the step
    assert [row["time/total_timesteps"] for row in logger.history] == [10.0, 7.0]


def test_excluded_keys_skip_their_formats(tmp_path: Path) -> None:
    logger = configure(tmp_path, ["csv", "json", "log"])
    logger.record("everywhere", 1.5)
    logger.record("not_in_csv", 2.5, exclude="csv")
    logger.record("only_csv", 3.5, exclude=("json", "log", "stdout"))
    logger.dump(4)
    logger.close()
    assert _rows(tmp_path / "progress.csv") == [{"everywhere": "1.5", "only_csv": "3.5", "time/total_timesteps": "4"}]
    assert json.loads((tmp_path / "progress.json").read_text()) == {
        "everywhere": 1.5, "not_in_csv": 2.5, "time/total_timesteps": 4}
    text = (tmp_path / "log.txt").read_text()
    assert f"Logging to {tmp_path}" in text and "not_in_csv" in text and "only_csv" not in text


def test_arrays_of_several_values_are_written_as_their_mean_to_csv_and_as_lists_to_json(tmp_path: Path) -> None:
    logger = configure(tmp_path, ["csv", "json"])
    logger.record("values", torch.tensor([1.0, 2.0, 6.0]))
    logger.dump(1)
    logger.close()
    assert _rows(tmp_path / "progress.csv")[0]["values"] == "3.0"
    assert json.loads((tmp_path / "progress.json").read_text())["values"] == [1.0, 2.0, 6.0]


def test_the_json_writer_takes_arrays_tensors_and_numpy_scalars_as_sb3(tmp_path: Path) -> None:
    writer = JSONOutputFormat(tmp_path / "progress.json")
    values = {"tensor": torch.ones(3), "scalar": np.float32(0.5), "zero_d": np.array(2), "one": np.array([[[1]]]),
              "list": [1, 2], "text": "a"}
    writer.write(values, {key: None for key in values})
    writer.close()
    assert json.loads((tmp_path / "progress.json").read_text()) == {
        "tensor": [1.0, 1.0, 1.0], "scalar": 0.5, "zero_d": 2.0, "one": 1.0, "list": [1, 2], "text": "a"}


def test_media_values_need_excluding_from_text_formats(tmp_path: Path) -> None:
    logger = configure(tmp_path, ["csv"])
    logger.record("video", Video(torch.zeros(1, 2, 3, 4, 4), fps=10))
    with pytest.raises(FormatUnsupportedError, match="csv"):
        logger.dump(1)
    logger.record("video", Video(torch.zeros(1, 2, 3, 4, 4), fps=10), exclude=("csv",))
    logger.record("x", 1)
    logger.dump(2)
    assert list(_rows(tmp_path / "progress.csv")[0]) == ["time/total_timesteps", "x"]


def test_hparam_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="metric_dict"):
        HParam({"lr": 1e-3}, {})


def test_tensorboard_gets_scalars_histograms_and_hparams(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = configure(tmp_path, ["tensorboard"])
    logger.record("hparams", HParam({"lr": 1e-3, "algo": "PPO"}, {"eval/mean_reward": 0.0}),
                  exclude=("stdout", "log", "json", "csv"))
    logger.record("eval/mean_reward", 4.0)
    logger.record("weights", np.arange(6.0))
    logger.dump(32)
    logger.record("eval/mean_reward", 5.0)
    logger.dump(64)
    logger.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0}).Reload()
    scalars = [(e.step, e.value) for e in events.Scalars("eval/mean_reward")]
    assert scalars == [(32, 4.0), (64, 5.0)]
    assert "time/total_timesteps" not in events.Tags()["scalars"]  # TensorBoard has the step already
    assert events.Histograms("weights")[0].step == 32
    assert "_hparams_/experiment" in events.summary_metadata


def test_tensorboard_gets_videos_as_animated_gifs_without_moviepy(tmp_path: Path) -> None:
    import imageio.v2 as imageio
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # Two videos of 3 frames, 4x5 pixels: frame t of video n is filled with 40 * t + 100 * n (red channel).
    frames = np.zeros((2, 3, 3, 4, 5), dtype=np.uint8)
    for n in range(2):
        for t in range(3):
            frames[n, t, 0] = 40 * t + 100 * n
    logger = configure(tmp_path, ["tensorboard"])
    logger.record("video/clip", Video(torch.from_numpy(frames), fps=10), exclude=("stdout", "log", "json", "csv"))
    logger.dump(7)
    logger.close()
    (event,) = EventAccumulator(str(tmp_path), size_guidance={"images": 0}).Reload().Images("video/clip")
    assert event.step == 7 and (event.height, event.width) == (4, 10)  # the two videos side by side
    gif = imageio.mimread(event.encoded_image_string, format="GIF")
    assert len(gif) == 3
    for t, image in enumerate(gif):
        assert image[0, 0, 0] == 40 * t and image[0, 5, 0] == 40 * t + 100 and image[0, 0, 1] == 0


def test_video_frames_must_have_five_dimensions(tmp_path: Path) -> None:
    logger = configure(tmp_path, ["tensorboard"])
    logger.record("video", Video(np.zeros((3, 3, 4, 4), dtype=np.uint8), fps=10), exclude=("stdout",))
    with pytest.raises(ConfigurationError, match=r"\(N, T, C, H, W\), got shape \(3, 3, 4, 4\)"):
        logger.dump(1)


def test_disabled_level_writes_nothing(tmp_path: Path) -> None:
    logger = configure(tmp_path, ["csv"])
    logger.set_level(DISABLED)
    logger.record("x", 1)
    logger.dump(1)
    assert (tmp_path / "progress.csv").read_text() == ""


def test_configure_defaults_and_unknown_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = configure(tmp_path)
    assert logger.get_dir() == str(tmp_path)
    assert [type(f).__name__ for f in logger.output_formats] == ["HumanOutputFormat", "HumanOutputFormat",
                                                                 "CSVOutputFormat"]
    assert f"Logging to {tmp_path}" in capsys.readouterr().out
    logger.close()
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        configure(tmp_path, ["xml"])


def test_long_keys_are_cut_and_clashes_refused() -> None:
    writer = HumanOutputFormat(io.StringIO(), max_length=10)
    writer.write({"abcdefghijklmnop": 1}, {}, 0)
    assert "| abcdefg... | 1 |" in writer.file.getvalue()
    with pytest.raises(ValueError, match="clashes"):
        writer.write({"abcdefghijk1": 1, "abcdefghijk2": 2}, {}, 0)


def _assert_whole_lines(path: Path) -> list[dict[str, str]]:
    """The file is a header and complete rows: it ends with a newline and each row has every column."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), f"a torn last line: {raw[-80:]!r}"
    lines = list(csv.reader(io.StringIO(raw.decode())))
    assert all(len(line) == len(lines[0]) for line in lines), "a row with missing columns"
    return _rows(path)


def test_progress_csv_holds_whole_lines_after_every_dump(tmp_path: Path) -> None:
    logger = Logger(tmp_path, verbose=0)
    for step in range(1, 40):
        logger.record("train/loss", 1.0 / step)
        if step % 7 == 0:  # a new column: the file is rewritten with the wider header
            logger.record(f"eval/metric_{step}", float(step))
        logger.dump(step)
        rows = _assert_whole_lines(tmp_path / "progress.csv")
        assert len(rows) == step and rows[-1]["time/total_timesteps"] == str(step)


def test_each_progress_csv_row_is_one_append_of_a_whole_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill between two system calls cannot tear a row: each row is written by a single write."""
    import ballast.log_formats as log_formats

    writes: list[bytes] = []
    real_write = log_formats.os.write

    def recording_write(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(log_formats.os, "write", recording_write)
    logger = Logger(tmp_path, verbose=0)
    logger.record("train/loss", 0.5)
    logger.dump(1)  # the first key widens the file (an atomic rewrite), the row is one write
    for step in range(2, 6):
        logger.record("train/loss", 0.1 * step)
        logger.dump(step)
    assert len(writes) == 5
    assert all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
