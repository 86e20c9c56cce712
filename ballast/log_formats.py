"""Where logged values go: SB3's output formats and value types.

Formats (SB3's names, files and layouts): ``"stdout"`` and ``"log"`` (``log.txt``) print a table,
``"csv"`` writes ``progress.csv``, ``"json"`` writes ``progress.json`` (one object per line) and
``"tensorboard"`` writes TensorBoard events. A :class:`KVWriter` receives the values of one dump
as plain Python numbers (tensors and NumPy scalars already converted), NumPy arrays for values of
several elements, strings, or the media types below; ``key_excluded[key]`` names the formats that
must skip ``key`` (SB3's ``record(..., exclude=...)``).

Media and hyperparameters, as SB3's ``Video``, ``Figure``, ``Image`` and ``HParam``, go to
TensorBoard only; the other formats raise :class:`FormatUnsupportedError` for them unless they are
excluded (``exclude=("stdout", "log", "json", "csv")``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ballast.errors import ConfigurationError


class Video:
    """A video for TensorBoard: ``frames`` of shape (N, T, C, H, W) and frames per second."""

    def __init__(self, frames: Any, fps: float) -> None:
        self.frames, self.fps = frames, fps


def video_summary(tag: str, frames: Any, fps: float) -> Any:
    """A TensorBoard summary holding ``frames`` (N, T, C, H, W) as one animated GIF in the Images tab.

    Shown as ``SummaryWriter.add_video`` shows videos (float frames in [0, 1] scaled to bytes; here
    the N videos side by side rather than in a grid), but encoded with imageio, so that it needs
    neither moviepy nor the ``moviepy.editor`` module that moviepy 2 removed.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary

    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ConfigurationError('videos in TensorBoard need imageio: pip install "ballast-rl[video]"') from None
    videos = np.asarray(frames.detach().cpu() if hasattr(frames, "detach") else frames)
    if videos.ndim != 5:
        raise ConfigurationError(f"a Video's frames have shape (N, T, C, H, W), got shape {videos.shape}")
    if videos.dtype != np.uint8:
        videos = (np.clip(videos.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    length = videos.shape[1]
    if length == 0:
        raise ConfigurationError("a Video needs at least one frame")
    # (N, T, C, H, W) -> (T, H, N * W, C): the videos side by side.
    strip = videos.transpose(1, 3, 0, 4, 2).reshape(length, videos.shape[3], -1, videos.shape[2])
    if strip.shape[-1] == 1:
        strip = strip[..., 0]
    buffer = io.BytesIO()
    imageio.mimsave(buffer, list(strip), format="GIF", duration=1000.0 / fps, loop=0)
    image = Summary.Image(height=strip.shape[1], width=strip.shape[2], colorspace=videos.shape[2],
                          encoded_image_string=buffer.getvalue())
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class Figure:
    """A matplotlib figure for TensorBoard; ``close`` closes it once written."""

    def __init__(self, figure: Any, close: bool) -> None:
        self.figure, self.close = figure, close


class Image:
    """An image for TensorBoard (a tensor, an array or a path) and its layout (``"HWC"``, ``"CHW"``, ...)."""

    def __init__(self, image: Any, dataformats: str) -> None:
        self.image, self.dataformats = image, dataformats


class HParam:
    """Hyperparameters and the metrics to show beside them in TensorBoard's HPARAMS tab.

    ``metric_dict`` names logged scalars (e.g. ``{"eval/mean_reward": 0}``; the values are
    placeholders) and must not be empty, or the tab shows nothing.
    """

    def __init__(self, hparam_dict: Mapping[str, bool | str | float | None], metric_dict: Mapping[str, float]) -> None:
        if not metric_dict:
            raise ConfigurationError(
                "HParam's metric_dict is empty, so TensorBoard's HPARAMS tab would show nothing; name at least "
                "one logged scalar, e.g. HParam(hparams, {'eval/mean_reward': 0})")
        self.hparam_dict, self.metric_dict = hparam_dict, metric_dict


MEDIA_TYPES = {Video: "video", Figure: "figure", Image: "image", HParam: "hparam"}


class FormatUnsupportedError(NotImplementedError):
    """A value of a type that an output format cannot write (e.g. a video for the CSV file)."""

    def __init__(self, unsupported_formats: Sequence[str], value_description: str) -> None:
        if len(unsupported_formats) > 1:
            formats = f"formats {', '.join(unsupported_formats)} are"
        else:
            formats = f"format {unsupported_formats[0]} is"
        super().__init__(
            f"The {formats} not supported for the {value_description} value logged.\n"
            "You can exclude formats via the `exclude` parameter of the logger's `record` function.")


def _check_not_media(value: Any, formats: list[str]) -> None:
    for kind, description in MEDIA_TYPES.items():
        if isinstance(value, kind):
            raise FormatUnsupportedError(formats, description)


def _scalar(value: Any) -> Any:
    """What the text formats write for ``value``: the mean of an array of several elements."""
    if isinstance(value, np.ndarray):
        return float(value.mean()) if value.size else float("nan")
    return value


def filter_excluded_keys(key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]],
                         _format: str) -> dict[str, Any]:
    """``key_values`` without the keys whose exclusions name ``_format``."""
    return {key: value for key, value in key_values.items() if _format not in (key_excluded.get(key) or ())}


class KVWriter:
    """Writes the key-value pairs of each dump."""

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SeqWriter:
    """Writes free text (``Logger.log``)."""

    def write_sequence(self, sequence: Sequence[str]) -> None:
        raise NotImplementedError


class HumanOutputFormat(KVWriter, SeqWriter):
    """A table, keys grouped by their prefix (``rollout/``, ``train/``, ...), to a stream or a file.

    As in SB3, a key excluded from ``"stdout"`` or from ``"log"`` is left out of both; keys and
    values longer than ``max_length`` characters are cut.
    """

    def __init__(self, filename_or_file: str | Path | TextIO, max_length: int = 36) -> None:
        self.max_length = max_length
        if isinstance(filename_or_file, (str, Path)):
            self.file: TextIO = open(filename_or_file, "w")  # noqa: SIM115 (closed by close())
            self.own_file = True
        else:
            if not hasattr(filename_or_file, "write"):
                raise ConfigurationError(f"HumanOutputFormat needs a file name or a stream, got {filename_or_file!r}")
            self.file, self.own_file = filename_or_file, False

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        rows: dict[tuple[str, str], str] = {}
        tag = ""
        for key in sorted(key_values):
            excluded = key_excluded.get(key) or ()
            if "stdout" in excluded or "log" in excluded:
                continue
            value = _scalar(key_values[key])
            _check_not_media(value, ["stdout", "log"])
            text = f"{value:<8.3g}" if isinstance(value, float) else str(value)
            if key.find("/") > 0:
                tag = key[: key.find("/") + 1]
                rows[(tag, self._truncate(tag))] = ""
            if tag and key.startswith(tag):
                key = "   " + key[len(tag):]
            truncated = self._truncate(key)
            if (tag, truncated) in rows:
                raise ValueError(f"Key {key!r} truncated to {truncated!r} clashes with another key; "
                                 "give HumanOutputFormat a larger max_length")
            rows[(tag, truncated)] = self._truncate(text)
        if not rows:
            warnings.warn("Tried to write empty key-value dict", stacklevel=2)
            return
        key_width = max(len(key) for _, key in rows)
        value_width = max(len(text) for text in rows.values())
        dashes = "-" * (key_width + value_width + 7)
        lines = [dashes, *(f"| {key:<{key_width}} | {text:<{value_width}} |" for (_, key), text in rows.items()),
                 dashes]
        self.file.write("\n".join(lines) + "\n")
        self.file.flush()

    def _truncate(self, text: str) -> str:
        return text[: self.max_length - 3] + "..." if len(text) > self.max_length else text

    def write_sequence(self, sequence: Sequence[str]) -> None:
        self.file.write(" ".join(sequence) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.own_file:
            self.file.close()


class JSONOutputFormat(KVWriter):
    """``progress.json``: one JSON object per dump, one per line."""

    def __init__(self, filename: str | Path) -> None:
        self.file = open(filename, "w")  # noqa: SIM115 (closed by close())

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        row = {}
        for key, value in filter_excluded_keys(key_values, key_excluded, "json").items():
            _check_not_media(value, ["json"])
            row[key] = _json_value(value)
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _json_value(value: Any) -> Any:
    """Arrays, tensors and NumPy scalars as JSON takes them, as SB3's: one element as a float, more as
    (nested) lists."""
    if not hasattr(value, "dtype"):
        return value
    if value.shape == () or len(value) == 1:
        return float(value.item())
    return value.tolist()


class CSVOutputFormat(KVWriter):
    """``progress.csv``: one row per dump, a column per key ever written (empty where a dump lacks it).

    A key that appears for the first time widens the file: it is rewritten, atomically, with the
    new header. ``resume=True`` continues an existing file with its columns (a resumed run); by
    default, as in SB3, the file starts empty.
    """

    def __init__(self, filename: str | Path, *, resume: bool = False) -> None:
        self.path = Path(filename)
        self.keys: list[str] = []
        if resume and self.path.exists():
            with open(self.path, newline="") as f:
                self.keys = next(csv.reader(f), [])
        else:
            self.path.write_text("")

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        row = {}
        for key, value in filter_excluded_keys(key_values, key_excluded, "csv").items():
            _check_not_media(value, ["csv"])
            row[key] = _scalar(value)
        new_keys = sorted(key for key in row if key not in self.keys)
        if new_keys:
            self._widen(new_keys)
        line = io.StringIO()
        csv.DictWriter(line, fieldnames=self.keys).writerow(row)
        # One write of the whole line to a file opened for appending: a kill never leaves half a row.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.getvalue().encode())
        finally:
            os.close(fd)

    def _widen(self, new_keys: list[str]) -> None:
        with open(self.path, newline="") as f:
            old_rows = list(csv.DictReader(f)) if self.keys else []
        self.keys += new_keys
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.keys)
            writer.writeheader()
            writer.writerows(old_rows)
        os.replace(tmp, self.path)

    def close(self) -> None:
        pass  # every write opens and closes the file


class TensorBoardOutputFormat(KVWriter):
    """TensorBoard events in ``folder``: numbers as scalars, strings as text, arrays of several
    elements as histograms, and the media types and :class:`HParam`."""

    def __init__(self, folder: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigurationError(
                "the 'tensorboard' log format needs the tensorboard package: pip install 'ballast-rl[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(log_dir=str(folder))

    def write(self, key_values: Mapping[str, Any], key_excluded: Mapping[str, Sequence[str]], step: int = 0) -> None:
        from torch.utils.tensorboard.summary import hparams

        for key, value in sorted(filter_excluded_keys(key_values, key_excluded, "tensorboard").items()):
            if isinstance(value, HParam):
                # Written by hand rather than with add_hparams, which would open another run folder.
                for summary in hparams(dict(value.hparam_dict), metric_dict=dict(value.metric_dict)):
                    self.writer.file_writer.add_summary(summary)
            elif isinstance(value, Video):
                self.writer.file_writer.add_summary(video_summary(key, value.frames, value.fps), step)
            elif isinstance(value, Figure):
                self.writer.add_figure(key, value.figure, step, close=value.close)
            elif isinstance(value, Image):
                self.writer.add_image(key, value.image, step, dataformats=value.dataformats)
            elif isinstance(value, str):
                self.writer.add_text(key, value, step)
            elif isinstance(value, np.ndarray):
                self.writer.add_histogram(key, value, step)
            elif isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


FORMATS = ("stdout", "log", "json", "csv", "tensorboard")


def make_output_format(_format: str, log_dir: str | Path, log_suffix: str = "") -> KVWriter:
    """The writer for one of :data:`FORMATS`, its files in ``log_dir`` (created if needed)."""
    os.makedirs(log_dir, exist_ok=True)
    folder = Path(log_dir)
    if _format == "stdout":
        return HumanOutputFormat(sys.stdout)
    if _format == "log":
        return HumanOutputFormat(folder / f"log{log_suffix}.txt")
    if _format == "json":
        return JSONOutputFormat(folder / f"progress{log_suffix}.json")
    if _format == "csv":
        return CSVOutputFormat(folder / f"progress{log_suffix}.csv")
    if _format == "tensorboard":
        return TensorBoardOutputFormat(folder)
    raise ConfigurationError(f"unknown log format {_format!r}; use some of {list(FORMATS)}")
