"""The ``ballast`` command, run in-process through ``main`` (and once as a real subprocess)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from ballast import PPO
from ballast.cli import main, new_run_dir

HYPERPARAMS = Path(__file__).resolve().parents[2] / "hyperparams"
FAST = ["--threads", "1", "--device", "cpu", "--verbose", "0"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One short PPO CartPole-v1 run with the bundled zoo settings, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "ppo", "CartPole-v1", "--steps", "2048", "--out", str(out), "--seed", "3",
                     "--hyperparams", str(HYPERPARAMS / "ppo.yml"), "--eval-episodes", "3", *FAST])
    assert code == 0
    return out / "ppo_CartPole-v1_s3", stdout.getvalue()


def test_train_writes_the_run_folder(trained_run: tuple[Path, str]) -> None:
    run_dir, stdout = trained_run
    for name in ("model.zip", "config.json", "progress.csv", "eval.json"):
        assert (run_dir / name).is_file(), name
        assert str(run_dir / name) in stdout
    assert "±" in stdout

    config = json.loads((run_dir / "config.json").read_text())
    assert config["command"][:4] == ["ballast", "train", "ppo", "CartPole-v1"]
    assert (config["algorithm"], config["env_id"], config["seed"]) == ("ppo", "CartPole-v1", 3)
    assert (config["n_timesteps"], config["n_envs"], config["policy"]) == (2048, 8, "MlpPolicy")
    assert config["settings"]["learning_rate"] == "lin_0.001"
    resolved = config["resolved"]["hyperparameters"]
    assert resolved["learning_rate"] == {"type": "linear", "start": 0.001, "end": 0.0}
    assert resolved["n_steps"] == 32

    with open(run_dir / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and "time/total_timesteps" in rows[0]
    assert float(rows[-1]["time/total_timesteps"]) >= 2048


def test_eval_json_is_sane(trained_run: tuple[Path, str]) -> None:
    result = json.loads((trained_run[0] / "eval.json").read_text())
    assert result["env_id"] == "CartPole-v1" and result["deterministic"] is True
    assert result["n_eval_episodes"] == len(result["episode_rewards"]) == len(result["episode_lengths"]) == 3
    assert all(1 <= r <= 500 for r in result["episode_rewards"])
    assert result["mean_reward"] == pytest.approx(sum(result["episode_rewards"]) / 3)
    assert result["std_reward"] >= 0
    assert result["num_timesteps"] >= 2048


def _returns(stdout: str) -> list[float]:
    line = next(x for x in stdout.splitlines() if x.startswith("episode returns:"))
    return [float(x) for x in line.split(":")[1].split()]


def test_eval_of_the_run_folder_reproduces_the_training_evaluation(
        trained_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = trained_run[0]
    saved = json.loads((run_dir / "eval.json").read_text())
    assert main(["eval", str(run_dir), "--episodes", "3", "--seed", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "±" in out and "deterministic" in out
    assert _returns(out) == pytest.approx(saved["episode_rewards"])


def test_eval_of_a_model_file_stochastic_and_on_a_named_env(
        trained_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    model = trained_run[0] / "model.zip"
    argv = ["eval", str(model), "--episodes", "2", "--stochastic", "--env", "CartPole-v1", "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stochastic" in out and len(_returns(out)) == 2
    assert main(["eval", str(model.with_suffix("")), "--episodes", "1", "--device", "cpu"]) == 0


def test_a2c_with_its_defaults_and_no_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "a2c", "CartPole-v1", "--steps", "100", "--out", str(tmp_path), "--eval-episodes", "0"]
    assert main([*argv, *FAST]) == 0
    run_dir = tmp_path / "a2c_CartPole-v1_s0"
    assert (run_dir / "model.zip").is_file() and not (run_dir / "eval.json").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["policy"], config["resolved"]["policy"], config["n_envs"]) == ("auto", "MlpPolicy", 1)
    assert str(run_dir) in capsys.readouterr().out


def test_run_folders_are_never_reused(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "ppo", "CartPole-v1", 0)
    second = new_run_dir(tmp_path, "ppo", "CartPole-v1", 0)
    assert (first.name, second.name) == ("ppo_CartPole-v1_s0", "ppo_CartPole-v1_s0_2")
    assert new_run_dir(tmp_path, "ppo", "ALE/Pong-v5", 1).name == "ppo_ALE-Pong-v5_s1"


def _run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_unknown_algorithm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(["train", "nope", "CartPole-v1", "--steps", "10", "--out", str(tmp_path)], capsys)
    assert err.startswith("error: unknown algorithm 'nope'") and "ppo" in err and "a2c" in err
    assert not any(tmp_path.iterdir())


def test_unknown_env_leaves_no_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(["train", "ppo", "NoSuchEnv-v0", "--steps", "10", "--out", str(tmp_path)], capsys)
    assert err.startswith("error:") and "NoSuchEnv" in err
    assert not any(tmp_path.iterdir())


def test_train_needs_a_step_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(["train", "ppo", "CartPole-v1", "--out", str(tmp_path)], capsys)
    assert "give --steps N" in err


def test_bad_hyperparameter_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ppo.yml"
    path.write_text("CartPole-v1:\n  callback: 4\n")
    err = _run_error(["train", "ppo", "CartPole-v1", "--hyperparams", str(path), "--steps", "10",
                      "--out", str(tmp_path / "runs")], capsys)
    assert "callback" in err and "CartPole-v1" in err
    err = _run_error(["train", "ppo", "CartPole-v1", "--hyperparams", str(tmp_path / "missing.yml")], capsys)
    assert "missing.yml does not exist" in err


def test_eval_of_a_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(["eval", str(tmp_path / "nothing")], capsys)
    assert err.startswith("error:") and "does not exist" in err
    err = _run_error(["eval", str(tmp_path)], capsys)
    assert "without model.zip" in err


def test_eval_needs_an_env_id_when_the_model_has_none(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = gym.make("CartPole-v1")
    model = PPO("MlpPolicy", None, observation_space=env.observation_space, action_space=env.action_space,
                n_steps=16, batch_size=16, device="cpu")
    path = model.save(tmp_path / "no_env")
    err = _run_error(["eval", str(path)], capsys)
    assert "--env ENV_ID" in err
    assert main(["eval", str(path), "--env", "CartPole-v1", "--episodes", "1", "--device", "cpu"]) == 0


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["train", "ppo"]) == 2
    assert main(["train", "ppo", "CartPole-v1", "--steps", "0"]) == 2
    capsys.readouterr()
    assert main(["train", "--help"]) == 0
    assert "--hyperparams" in capsys.readouterr().out


def test_help_in_a_subprocess() -> None:
    result = subprocess.run([sys.executable, "-m", "ballast.cli", "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "eval" in result.stdout


def test_env_kwargs_of_the_file_reach_training_and_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "a2c.yml"
    path.write_text("CartPole-v1:\n  env_kwargs: {sutton_barto_reward: true}\n")
    argv = ["train", "a2c", "CartPole-v1", "--hyperparams", str(path), "--steps", "50",
            "--out", str(tmp_path), "--eval-episodes", "2"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, *FAST]) == 0
    result = json.loads((tmp_path / "a2c_CartPole-v1_s0" / "eval.json").read_text())
    # Sutton and Barto's reward is 0 per step and -1 at failure, unlike the default +1 per step.
    assert all(r <= 0 for r in result["episode_rewards"])


@pytest.mark.parametrize("fmt, artifact", [("onnx", "policy.onnx"), ("torchscript", "policy.pt")])
def test_export_of_a_run_folder_checks_parity(trained_run: tuple[Path, str], tmp_path: Path, fmt: str,
                                             artifact: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, _ = trained_run
    out = tmp_path / fmt
    assert main(["export", str(run_dir), "--format", fmt, "--out", str(out)]) == 0
    assert (out / artifact).is_file()
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["parity"]["checked"] is True
    assert "parity PASSED" in capsys.readouterr().out


def test_export_with_a_mask_input(trained_run: tuple[Path, str], tmp_path: Path) -> None:
    run_dir, _ = trained_run
    assert main(["export", str(run_dir), "--out", str(tmp_path / "m"), "--action-masks"]) == 0
    metadata = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert [i["name"] for i in metadata["inputs"]] == ["obs", "action_mask"] and metadata["parity"]["passed"]


def test_export_without_check_says_so(trained_run: tuple[Path, str], tmp_path: Path) -> None:
    run_dir, _ = trained_run
    assert main(["export", str(run_dir), "--out", str(tmp_path / "x"), "--no-check"]) == 0
    metadata = json.loads((tmp_path / "x" / "metadata.json").read_text())
    assert metadata["parity"]["checked"] is False


def test_export_of_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _run_error(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")], capsys)
    assert "does not exist" in message


def test_hyperparams_override_replaces_keys_of_the_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "ppo", "CartPole-v1", "--hyperparams", "ppo.yml", "--steps", "256", "--out", str(tmp_path),
                 "--eval-episodes", "0", "--hyperparams-override", "n_steps=64", "policy_kwargs=dict(net_arch=[16])",
                 *FAST]) == 0
    config = json.loads((tmp_path / "ppo_CartPole-v1_s0" / "config.json").read_text())
    assert config["resolved"]["hyperparameters"]["n_steps"] == 64
    assert config["resolved"]["hyperparameters"]["gae_lambda"] == 0.8  # the file's value, kept
    assert config["resolved"]["policy_config"]["net_arch"] == {"pi": [16], "vf": [16]}
    assert main(["train", "a2c", "CartPole-v1", "--steps", "64", "--out", str(tmp_path), "--eval-episodes", "0",
                 "--hyperparams-override", "n_steps=8", *FAST]) == 0  # without a file: over the defaults
    assert json.loads((tmp_path / "a2c_CartPole-v1_s0" / "config.json").read_text())["settings"]["n_steps"] == 8
    err = _run_error(["train", "ppo", "CartPole-v1", "--steps", "64", "--out", str(tmp_path),
                      "--hyperparams-override", "n_stepz=8"], capsys)
    assert "'n_stepz' is not a PPO hyperparameter" in err
