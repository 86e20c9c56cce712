"""SB3's "Policy Networks" page (custom_policy): net_arch, custom features extractors, the custom
ActorCriticPolicy, off-policy net_arch.

SB3's scripts define their extractor classes at the top of a script, that is in ``__main__``. Such a
class cannot be found again when a saved model is loaded without pickle, so Ballast refuses it with
one message that says what to do (a deliberate difference, docs/migrating-from-sb3.md);
``run_as_script`` runs the example's text as ``__main__`` to show exactly that. The same classes
imported from a module (or registered) work.
"""

import os
import runpy
import textwrap

import numpy as np
import pytest

CUSTOM_CNN_SCRIPT = '''
import torch as th
import torch.nn as nn
from gymnasium import spaces

from ballast import PPO
from ballast.common.torch_layers import BaseFeaturesExtractor


class CustomCNN(BaseFeaturesExtractor):
    """
    :param observation_space: (gym.Space)
    :param features_dim: (int) Number of features extracted.
        This corresponds to the number of unit for the last layer.
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256):
        super().__init__(observation_space, features_dim)
        # We assume CxHxW images (channels first)
        # Re-ordering will be done by pre-preprocessing or wrapper
        n_input_channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(n_input_channels, 32, kernel_size=8, stride=4, padding=0),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=0),
            nn.ReLU(),
            nn.Flatten(),
        )

        # Compute shape by doing one forward pass
        with th.no_grad():
            n_flatten = self.cnn(
                th.as_tensor(observation_space.sample()[None]).float()
            ).shape[1]

        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(observations))

policy_kwargs = dict(
    features_extractor_class=CustomCNN,
    features_extractor_kwargs=dict(features_dim=128),
)
# compat: "BreakoutNoFrameskip-v4" -> SmallImageEnv (84x84x3 frames, no ROM); n_steps 2048 -> 64
model = PPO("CnnPolicy", SmallImageEnv(), policy_kwargs=policy_kwargs, verbose=1, n_steps=64, batch_size=32)
model.learn(64)  # compat: 1000 -> 64
'''


def run_as_script(source: str) -> dict:
    """Run ``source`` as a script (its classes live in ``__main__``), with the test envs in its globals."""
    from images import ImageAndVectorEnv, SmallImageEnv

    path = "script.py"
    with open(path, "w") as f:
        f.write("from images import ImageAndVectorEnv, SmallImageEnv  # compat: the stand-in envs\n")
        f.write(textwrap.dedent(source))
    del ImageAndVectorEnv, SmallImageEnv
    return runpy.run_path(path, run_name="__main__")


def test_custom_network_architecture():
    import torch as th

    from ballast import PPO

    # Custom actor (pi) and value function (vf) networks
    # of two layers of size 32 each with Relu activation function
    # Note: an extra linear layer will be added on top of the pi and the vf nets, respectively
    policy_kwargs = dict(activation_fn=th.nn.ReLU,
                         net_arch=dict(pi=[32, 32], vf=[32, 32]))
    # Create the agent
    model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, verbose=1,
                n_steps=256)  # compat: n_steps 2048 -> 256
    # Retrieve the environment
    env = model.get_env()
    # Train the agent
    model.learn(total_timesteps=512)  # compat: 20_000 -> 512
    # Save the agent
    model.save("ppo_cartpole")

    del model
    # the policy_kwargs are automatically loaded
    model = PPO.load("ppo_cartpole", env=env)

    assert model.policy_kwargs["net_arch"] == dict(pi=[32, 32], vf=[32, 32])
    assert model.policy_kwargs["activation_fn"] in (th.nn.ReLU, "ReLU")
    sizes = sorted({tuple(p.shape) for p in model.policy.parameters()})
    assert (2, 32) in sizes or (32, 2) in sizes  # CartPole's 2 actions on top of the 32-unit layer


def test_custom_feature_extractor_in_a_script_gives_one_clear_message():
    from ballast.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"CustomCNN is defined in __main__.*register_features_extractor"):
        run_as_script(CUSTOM_CNN_SCRIPT)


def test_custom_feature_extractor_registered():
    from ballast.encoders import register_features_extractor

    # The one line the message asks for, added after the class definition.
    source = CUSTOM_CNN_SCRIPT.replace("policy_kwargs = dict(\n",
                                       "register_features_extractor('CustomCNN', CustomCNN)\npolicy_kwargs = dict(\n")
    assert register_features_extractor  # the script imports it itself below
    source = "from ballast.encoders import register_features_extractor\n" + source
    namespace = run_as_script(source)
    model = namespace["model"]
    assert model.num_timesteps == 64
    extractor = next(m for m in model.policy.modules() if type(m).__name__ == "CustomCNN")
    assert extractor.features_dim == 128 and extractor.cnn[0].in_channels == 3  # channels first, as in SB3
    model.save("custom_cnn")
    loaded = type(model).load("custom_cnn.zip")
    obs = np.full((84, 84, 3), 96, np.uint8)
    assert loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]


def test_multiple_inputs_custom_combined_extractor():
    from custom_extractors_module import CustomCombinedExtractor
    from images import ImageAndVectorEnv

    from ballast import PPO

    model = PPO("MultiInputPolicy", ImageAndVectorEnv(), n_steps=32, batch_size=16,
                policy_kwargs=dict(features_extractor_class=CustomCombinedExtractor))
    model.learn(64)
    extractor = next(m for m in model.policy.modules() if isinstance(m, CustomCombinedExtractor))
    assert extractor.features_dim == 36 // 4 * 36 // 4 + 16
    action, _ = model.predict(ImageAndVectorEnv().observation_space.sample())
    assert action.shape == () and action.dtype == np.int64


def test_advanced_example_custom_actor_critic_policy():
    run_as_script('''
    from typing import Callable, Dict, List, Optional, Tuple, Type, Union

    from gymnasium import spaces
    import torch as th
    from torch import nn

    from ballast import PPO
    from ballast.common.policies import ActorCriticPolicy


    class CustomNetwork(nn.Module):
        def __init__(self, feature_dim: int, last_layer_dim_pi: int = 64, last_layer_dim_vf: int = 64):
            super().__init__()
            # IMPORTANT:
            # Save output dimensions, used to create the distributions
            self.latent_dim_pi = last_layer_dim_pi
            self.latent_dim_vf = last_layer_dim_vf
            # Policy network
            self.policy_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_pi), nn.ReLU())
            # Value network
            self.value_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_vf), nn.ReLU())

        def forward(self, features: th.Tensor) -> Tuple[th.Tensor, th.Tensor]:
            return self.forward_actor(features), self.forward_critic(features)

        def forward_actor(self, features: th.Tensor) -> th.Tensor:
            return self.policy_net(features)

        def forward_critic(self, features: th.Tensor) -> th.Tensor:
            return self.value_net(features)


    class CustomActorCriticPolicy(ActorCriticPolicy):
        def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                     lr_schedule: Callable[[float], float], *args, **kwargs):
            # Disable orthogonal initialization
            kwargs["ortho_init"] = False
            super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

        def _build_mlp_extractor(self) -> None:
            self.mlp_extractor = CustomNetwork(self.features_dim)


    model = PPO(CustomActorCriticPolicy, "CartPole-v1", verbose=1, n_steps=256)  # compat: n_steps 2048 -> 256
    model.learn(256)  # compat: 5000 -> 256
    assert isinstance(model.policy.mlp_extractor, CustomNetwork)
    ''')


def test_off_policy_custom_net_arch():
    from ballast import SAC

    # Custom actor architecture with two layers of 64 units each
    # Custom critic architecture with two layers of 400 and 300 units
    policy_kwargs = dict(net_arch=dict(pi=[64, 64], qf=[400, 300]))
    # Create the agent
    model = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, verbose=1)
    model.learn(150)  # compat: 5000 -> 150

    shapes = {tuple(p.shape) for p in model.policy.parameters()}
    assert any(64 in s for s in shapes) and any(400 in s for s in shapes) and any(300 in s for s in shapes)
    assert os.getcwd()  # the run wrote nothing: SB3's example does not save
