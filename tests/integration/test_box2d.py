"""The zoo's LunarLander entries (Box2D, the ``box2d`` extra) build and train as the shipped files say.

Learning at the zoo's budgets is measured by ``benchmarks/zoo_table.py``; here each entry builds its
model with the file's settings, trains past its warm-up, and reloads with the same predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import ballast
from ballast.zoo import load_hyperparams

HYPERPARAMS = Path(ballast.__file__).parent / "hyperparams"
ENTRIES = [(path.stem, env_id) for path in sorted(HYPERPARAMS.glob("*.yml"))
           for env_id in yaml.safe_load(path.read_text()) if env_id.startswith("LunarLander")]


def test_every_algorithm_with_a_zoo_lunar_lander_entry_ships_it() -> None:
    assert {algo for algo, _ in ENTRIES} >= {"ppo", "a2c", "dqn", "qrdqn", "sac", "tqc", "crossq", "ppo_lstm"}
    assert ("dqn", "LunarLander-v3") in ENTRIES and ("sac", "LunarLanderContinuous-v3") in ENTRIES


@pytest.mark.parametrize(("algorithm", "env_id"), ENTRIES, ids=[f"{a}-{e}" for a, e in ENTRIES])
def test_lunar_lander_entry_trains_and_reloads(algorithm: str, env_id: str, tmp_path: Path) -> None:
    # Shorter than the entry's warm-up and rollouts, so that a few updates run in seconds.
    off_policy = algorithm in ("dqn", "qrdqn", "sac", "tqc", "crossq")
    overrides = {"learning_starts": 100, "train_freq": 1, "gradient_steps": 1} if off_policy else {}
    if algorithm in ("ppo", "ppo_lstm"):
        overrides["n_steps"] = 32  # one short rollout of the entry's n_envs copies
    settings = load_hyperparams(HYPERPARAMS / f"{algorithm}.yml", env_id, overrides=overrides)
    model = settings.create_model(seed=0, device="cpu")
    assert model.n_envs == settings.n_envs
    assert model.observation_space.shape == (8,)  # the NoVel variants zero the velocities, as the zoo does
    steps = 150 if off_policy else 32 * settings.n_envs
    model.learn(steps)
    assert model.num_timesteps >= steps and model.n_updates > 0
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = type(model).load(path, device="cpu")
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
