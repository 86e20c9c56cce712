"""Short seeded runs on SB3's test envs (``ballast.common.envs``): the algorithms learn what they
should, and the image and Dict variants fit the policies built for them."""

import numpy as np
import pytest

from ballast import DQN, PPO
from ballast.common.envs import BitFlippingEnv, FakeImageEnv, IdentityEnv, SimpleMultiObsEnv
from ballast.common.evaluation import evaluate_policy


@pytest.mark.parametrize("algorithm, kwargs", [
    (PPO, dict(n_steps=256, batch_size=64, n_epochs=4)),
    (DQN, dict(learning_starts=0)),
], ids=["PPO", "DQN"])
def test_copying_the_observation_is_learned(algorithm, kwargs):
    # A uniformly random policy scores 50 of 100 on IdentityEnv(2); copying scores 100.
    model = algorithm("MlpPolicy", IdentityEnv(dim=2), gamma=0.4, learning_rate=2e-3, seed=0, **kwargs).learn(1024)
    mean, _ = evaluate_policy(model, IdentityEnv(dim=2), n_eval_episodes=5, seed=0)
    assert mean == 100.0


def test_ppo_flips_four_bits_nearly_optimally():
    # With k >= 1 zeros at the start the best return is -(k - 1) (the last flip pays 0), and -1 from
    # the goal itself (flip a bit away and back); over Binomial(4, 1/2) starts the optimum is
    # -(1*1 + 0*4 + 1*6 + 2*4 + 3*1) / 16 = -1.125. Random flipping scores about -3.4.
    model = PPO("MultiInputPolicy", lambda: BitFlippingEnv(n_bits=4), n_envs=4, n_steps=64, batch_size=64,
                n_epochs=4, learning_rate=1e-3, seed=0).learn(4096)
    mean, _ = evaluate_policy(model, BitFlippingEnv(n_bits=4), n_eval_episodes=50, seed=0)
    assert mean >= -1.5


@pytest.mark.parametrize("channel_first", [False, True])
def test_cnn_policy_acts_on_fake_images_of_either_layout(channel_first):
    env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=2, channel_first=channel_first)
    model = PPO("CnnPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0).learn(64)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    batch, _ = model.predict(np.stack([obs, obs]), deterministic=True)
    assert batch.shape == (2,)


def test_multi_input_policy_takes_the_grid_worlds_vector_and_image():
    env = SimpleMultiObsEnv(random_start=False, channel_last=False)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0).learn(128)
    assert model.policy_name == "MultiInputPolicy"
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
