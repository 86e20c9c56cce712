"""import_sb3 reads Stable-Baselines3 files without unpickling and reproduces SB3's actions."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ballast.errors import CheckpointError
from ballast.interop import import_sb3, read_torch_zip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sb3"
#: The recurrent fixture's observations are one env's steps, checked step by step below.
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if p.stem != "ppo_lstm_cartpole")


@pytest.mark.parametrize("name", CASES)
def test_deterministic_actions_match_sb3(name: str) -> None:
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    model = import_sb3(FIXTURES / f"{name}.zip", expected["env_id"])
    obs = np.asarray(expected["observations"], dtype=np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    reference = np.asarray(expected["actions"])
    if np.issubdtype(reference.dtype, np.integer):
        np.testing.assert_array_equal(actions, reference)
    else:
        np.testing.assert_allclose(actions, reference, atol=1e-5, rtol=0)
    assert model.algorithm_name == expected["algorithm"].lower()


def test_torch_zip_reader_matches_torch_load(tmp_path: Path) -> None:
    base = torch.randn(4, 5)
    state = {"a": base, "transposed_slice": base.t()[1:], "ints": torch.arange(6), "scalar": torch.tensor(2.5),
             "flags": torch.tensor([True, False])}
    torch.save(state, tmp_path / "state.pth")
    read = read_torch_zip((tmp_path / "state.pth").read_bytes())
    reference = torch.load(tmp_path / "state.pth", weights_only=True)
    assert read.keys() == reference.keys()
    for key in reference:
        assert torch.equal(read[key], reference[key]), key


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_pickle_payload_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    program = pickle.dumps({"weights": _Payload(str(marker))}, protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", program)
        zf.writestr("archive/version", "3")
    sb3_file = tmp_path / "evil.zip"
    with zipfile.ZipFile(sb3_file, "w") as zf:
        zf.writestr("data", json.dumps({"n_epochs": 10}))
        zf.writestr("policy.pth", buffer.getvalue())
    with pytest.raises(CheckpointError, match="never uses|not a known global"):
        import_sb3(sb3_file, "CartPole-v1")
    assert not marker.exists()


def test_non_sb3_zip_is_rejected_clearly(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(CheckpointError, match="Stable-Baselines3"):
        import_sb3(path, "CartPole-v1")


def test_qrdqn_quantiles_match_sb3_contrib() -> None:
    expected = json.loads((FIXTURES / "qrdqn_cartpole.json").read_text())
    model = import_sb3(FIXTURES / "qrdqn_cartpole.zip", expected["env_id"])
    assert model.n_quantiles == 7 and model.policy.config.net_arch["qf"] == [32, 16]
    obs = torch.as_tensor(np.asarray(expected["observations"], dtype=np.float32))
    with torch.no_grad():
        quantiles = model.policy.q_net.quantiles(obs)
    reference = torch.tensor(expected["quantiles"])
    torch.testing.assert_close(quantiles, reference, atol=1e-5, rtol=0)
    with zipfile.ZipFile(FIXTURES / "qrdqn_cartpole.zip") as zf:
        state = read_torch_zip(zf.read("policy.pth"))
    assert torch.equal(model.policy.q_net_target.weights[0], state["quantile_net_target.quantile_net.0.weight"].t())
    assert reference.std(dim=1).mean() > 1e-3  # the quantiles of an action differ: a trained network


def test_tqc_critics_and_settings_match_sb3_contrib() -> None:
    expected = json.loads((FIXTURES / "tqc_pendulum.json").read_text())
    model = import_sb3(FIXTURES / "tqc_pendulum.zip", expected["env_id"])
    assert model.algorithm_name == "tqc"
    assert (model.n_quantiles, model.policy.critic.n_critics, model.top_quantiles_to_drop_per_net) == (5, 3, 1)
    obs = np.asarray(expected["observations"], dtype=np.float32)
    scaled = torch.as_tensor(model.policy.scale_action(np.asarray(expected["actions"], dtype=np.float32)))
    with torch.no_grad():
        quantiles = model.policy.q_values(torch.as_tensor(obs), scaled)  # (n_critics, batch, n_quantiles)
        target = model.policy.q_values(torch.as_tensor(obs), scaled, target=True)
    reference = torch.tensor(expected["quantiles"]).permute(1, 0, 2)
    torch.testing.assert_close(quantiles, reference, atol=1e-5, rtol=0)
    assert not torch.equal(target, quantiles)  # the target critics are sb3-contrib's, which lag
    assert reference.std(dim=2).mean() > 1e-3  # the quantiles of a critic differ: a trained network


def test_import_sb3_contrib_recurrent_ppo_matches_its_actions_and_states() -> None:
    expected = json.loads((FIXTURES / "ppo_lstm_cartpole.json").read_text())
    model = import_sb3(FIXTURES / "ppo_lstm_cartpole.zip", expected["env_id"])
    assert model.algorithm_name == "ppo_lstm" and model.policy_config.lstm_hidden_size == 16
    assert (model.n_steps, model.batch_size, model.n_epochs) == (64, 64, 2)
    state, actions = None, []
    for i, obs in enumerate(np.asarray(expected["observations"], dtype=np.float32)):
        action, state = model.predict(obs[None], state=state, episode_start=np.array([i % 16 == 0]),
                                      deterministic=True)
        actions.append(int(action[0]))
    assert actions == expected["actions"]
    assert len(set(actions)) == 2  # both actions occur: a trained network, not a constant
    for ours, theirs in zip(state, expected["final_state"]):
        np.testing.assert_allclose(ours, np.asarray(theirs, dtype=np.float32), atol=1e-5, rtol=0)


def test_crossq_batch_renorm_statistics_and_settings_match_sb3_contrib() -> None:
    expected = json.loads((FIXTURES / "crossq_pendulum.json").read_text())
    model = import_sb3(FIXTURES / "crossq_pendulum.zip", expected["env_id"])
    assert model.algorithm_name == "crossq" and model.policy_delay == 2
    config = model.policy.config
    assert config.net_arch == {"pi": [32, 32], "qf": [48, 48]} and config.n_critics == 2
    assert (config.batch_norm_eps, config.batch_norm_momentum, config.renorm_warmup_steps) == (1e-4, 0.02, 150)
    obs = np.asarray(expected["observations"], dtype=np.float32)
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], expected["actions"], atol=1e-5, rtol=0)
    # The running statistics and step counters came along: 412 critic updates, 206 actor updates (policy_delay=2).
    norms = [m for m in model.policy.modules() if type(m).__name__ == "BatchRenorm"]
    assert sorted({int(n.steps) for n in norms}) == [206, 412]
    assert all(not torch.equal(n.ra_var, torch.ones_like(n.ra_var)) for n in norms)
    scaled = torch.as_tensor(model.policy.scale_action(np.asarray(expected["actions"], dtype=np.float32)))
    model.policy.set_training_mode(False)
    with torch.no_grad():
        q_values = model.policy.q_values(torch.as_tensor(obs), scaled)  # (n_critics, batch)
    reference = torch.tensor(expected["q_values"]).T
    torch.testing.assert_close(q_values, reference, atol=1e-5, rtol=1e-6)
    assert reference.std() > 1.0  # a trained critic, not a constant
