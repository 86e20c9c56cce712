import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

import ballast
from ballast.checkpoint import FORMAT_VERSION, Checkpoint, read_checkpoint, write_checkpoint
from ballast.errors import CheckpointError


def sample_checkpoint():
    return Checkpoint(
        meta={"algorithm": "ppo", "policy": "MlpPolicy"},
        config={"gamma": 0.99, "net_arch": {"pi": [64, 64]}, "env_id": None},
        state={"num_timesteps": 1234, "rng": [1, 2, 3]},
        tensors={
            "policy": {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1.5, -2.0])},
            "rng": {"torch": torch.tensor([1, 2, 255], dtype=torch.uint8), "step": torch.tensor(7)},
        },
    )


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    model = ballast.PPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, seed=0, device="cpu")
    return model.save(tmp_path_factory.mktemp("real") / "ppo.zip")


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def valid_json_members(**meta_overrides):
    meta = {"format": "ballast-checkpoint", "format_version": FORMAT_VERSION, "algorithm": "ppo"}
    meta.update(meta_overrides)
    return {"meta.json": json.dumps(meta), "config.json": "{}", "state.json": "{}"}


def write(path, data):
    path.write_bytes(data)
    return path


def test_round_trip(tmp_path):
    original = sample_checkpoint()
    path = write_checkpoint(tmp_path / "ckpt", original)
    assert path == tmp_path / "ckpt.zip"
    loaded = read_checkpoint(tmp_path / "ckpt")
    assert loaded.meta["algorithm"] == "ppo"
    assert loaded.meta["format_version"] == FORMAT_VERSION
    assert loaded.config == original.config
    assert loaded.state == original.state
    assert set(loaded.tensors) == {"policy", "rng"}
    for group, tensors in original.tensors.items():
        assert set(loaded.tensors[group]) == set(tensors)
        for name, tensor in tensors.items():
            assert loaded.tensors[group][name].dtype == tensor.dtype
            assert torch.equal(loaded.tensors[group][name], tensor)


def test_checkpoint_holds_only_json_and_safetensors(real_checkpoint):
    with zipfile.ZipFile(real_checkpoint) as zf:
        names = zf.namelist()
    assert {"meta.json", "config.json", "state.json", "policy.safetensors"} <= set(names)
    assert all(n.endswith((".json", ".safetensors")) for n in names)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_checkpoint(tmp_path / "nothing.zip")


def test_empty_file(tmp_path):
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(write(tmp_path / "empty.zip", b""))


def test_truncated_file(tmp_path, real_checkpoint):
    data = real_checkpoint.read_bytes()
    path = write(tmp_path / "half.zip", data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        ballast.load(path)


def test_random_bytes(tmp_path):
    path = write(tmp_path / "noise.zip", os.urandom(4096))
    with pytest.raises(CheckpointError, match="not a zip"):
        read_checkpoint(path)


def test_zip_without_meta(tmp_path):
    path = write(tmp_path / "other.zip", zip_bytes({"readme.txt": "hello"}))
    with pytest.raises(CheckpointError, match="no meta.json"):
        read_checkpoint(path)


def test_sb3_file_points_to_import_sb3(tmp_path):
    members = {"data": "{}", "policy.pth": b"\x80\x04", "_stable_baselines3_version": "2.3.2"}
    path = write(tmp_path / "sb3.zip", zip_bytes(members))
    with pytest.raises(CheckpointError, match="import_sb3"):
        ballast.load(path)


def test_future_format_version(tmp_path):
    path = write(tmp_path / "future.zip", zip_bytes(valid_json_members(format_version=FORMAT_VERSION + 1)))
    with pytest.raises(CheckpointError, match="Upgrade Ballast"):
        read_checkpoint(path)


def test_foreign_meta(tmp_path):
    members = {**valid_json_members(), "meta.json": '{"format": "x"}'}
    path = write(tmp_path / "foreign.zip", zip_bytes(members))
    with pytest.raises(CheckpointError, match="not Ballast's"):
        read_checkpoint(path)


def test_invalid_json_member(tmp_path):
    path = write(tmp_path / "badjson.zip", zip_bytes({**valid_json_members(), "config.json": "{not json"}))
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        read_checkpoint(path)


def test_garbage_safetensors_member(tmp_path):
    members = {**valid_json_members(), "policy.safetensors": os.urandom(64)}
    path = write(tmp_path / "garbage.zip", zip_bytes(members))
    with pytest.raises(CheckpointError, match="policy.safetensors"):
        read_checkpoint(path)


def test_corrupted_bytes_inside_the_safetensors_member(tmp_path, real_checkpoint):
    data = bytearray(real_checkpoint.read_bytes())
    with zipfile.ZipFile(real_checkpoint) as zf:
        info = zf.getinfo("policy.safetensors")
    # the member is stored uncompressed: flip bytes in the middle of its payload
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.file_size // 2
    data[middle:middle + 8] = bytes(255 - b for b in data[middle:middle + 8])
    path = write(tmp_path / "flipped.zip", bytes(data))
    with pytest.raises(CheckpointError, match="corrupted|damaged"):
        read_checkpoint(path)


class _CreatesFile:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_payload_is_never_executed(tmp_path):
    probe = tmp_path / "probe_created"
    pickle.loads(pickle.dumps(_CreatesFile(probe))).close()
    assert probe.exists(), "the payload must be live for this test to mean anything"

    target = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFile(target))
    variants = {
        "as_safetensors.zip": {**valid_json_members(), "policy.safetensors": payload},
        "as_extra_member.zip": {**valid_json_members(), "policy.pkl": payload, "data.pkl": payload},
        "without_meta.zip": {"data.pkl": payload, "data": payload},
    }
    for name, members in variants.items():
        path = write(tmp_path / name, zip_bytes(members))
        with pytest.raises(CheckpointError):
            ballast.load(path)
    assert not target.exists()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_checkpoint(tmp_path / "a.zip", sample_checkpoint())
    write_checkpoint(tmp_path / "a.zip", sample_checkpoint())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_checkpoint(tmp_path / "a.zip", sample_checkpoint())
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    changed = sample_checkpoint()
    changed.state["num_timesteps"] = 99
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(path, changed)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]
    assert read_checkpoint(path).state["num_timesteps"] == 1234


def test_write_creates_missing_directories(tmp_path):
    path = write_checkpoint(tmp_path / "deep" / "er" / "x.zip", sample_checkpoint())
    assert Path(path).is_file()
    assert read_checkpoint(path).state["num_timesteps"] == 1234


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = write_checkpoint(tmp_path / "a.zip", sample_checkpoint())
    finally:
        os.umask(previous)
    assert Path(path).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = write_checkpoint(tmp_path / "a.zip", sample_checkpoint())
    os.chmod(path, 0o640)
    write_checkpoint(path, sample_checkpoint())
    assert Path(path).stat().st_mode & 0o777 == 0o640
