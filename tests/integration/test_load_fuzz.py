"""Damaged and foreign files given to ``load`` end in a Ballast error, or in a model that acts correctly."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import ballast
from ballast import PPO
from ballast.errors import BallastError

N_CASES = 2000


@pytest.fixture(scope="module")
def saved() -> bytes:
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, policy_kwargs={"net_arch": [8]}, seed=0,
                device="cpu")
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def _rezip(data: bytes, rng: np.random.Generator) -> bytes:
    """The checkpoint with one member replaced: random bytes, broken JSON, or JSON of another shape."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    name = sorted(members)[int(rng.integers(len(members)))]
    kind = int(rng.integers(4))
    if kind == 0:
        members[name] = rng.bytes(int(rng.integers(0, 64)))
    elif kind == 1:
        members[name] = members[name][: int(rng.integers(0, max(1, len(members[name]))))]
    elif kind == 2:
        members[name] = json.dumps([1, "two", None]).encode()
    else:
        del members[name]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for key, value in members.items():
            target.writestr(key, value)
    return out.getvalue()


def _damaged(data: bytes, rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(4))
    if kind == 0:
        return rng.bytes(int(rng.integers(0, 2048)))
    if kind == 1:
        return data[: int(rng.integers(0, len(data)))]
    if kind == 2:
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            flipped[position] ^= 1 << int(rng.integers(8))
        return bytes(flipped)
    return _rezip(data, rng)


def test_damaged_files_end_in_a_ballast_error_or_a_model_that_acts(saved, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "damaged.zip"
    obs = np.zeros((3, 4), np.float32)
    refused = loaded = 0
    for case in range(N_CASES):
        data = _damaged(saved, rng)
        path.write_bytes(data)
        try:
            model = ballast.load(path)
        except BallastError:
            refused += 1
            continue
        except Exception as err:  # noqa: BLE001 - what the test is for
            raise AssertionError(f"case {case}: load raised {type(err).__name__}: {err}") from None
        actions, _ = model.predict(obs, deterministic=True)
        assert actions.shape == (3,) and all(model.action_space.contains(a) for a in actions), case
        loaded += 1
    assert refused > N_CASES // 2 and refused + loaded == N_CASES
