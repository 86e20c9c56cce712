"""A NumPy evaluation of the acting path of an MLP actor-critic, for collecting rollouts on CPU.

Collecting a rollout calls the policy once per vector step on a batch of ``n_envs``
observations; for the small networks of RL, PyTorch's per-operation overhead then costs more
than the arithmetic. :class:`NumpyActor` computes the same function with NumPy views of the
policy's own parameters (no copies: updates to the parameters are seen at once) for the common
case: vector observations (optionally normalised), the stacked actor-critic MLP, and a
categorical or diagonal Gaussian head. Any other policy returns ``None`` from :func:`numpy_actor`
and rollouts use PyTorch. The update step always uses PyTorch and autograd.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ballast.encoders.standard import FlattenEncoder
from ballast.policies.heads import CategoricalHead, GaussianHead

_ACTIVATIONS = {"Tanh": np.tanh, "ReLU": lambda x: np.maximum(x, 0.0)}
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


class NumpyActor:
    """``actor(obs) -> (normalised_obs, actions, values, log_probs)`` for a batch of raw observations."""

    def __init__(self, policy: torch.nn.Module, rng: np.random.Generator) -> None:
        self.rng = rng
        self.normalizer = None
        if policy.normalizer is not None:
            rms = policy.normalizer.stats["obs"]
            self.normalizer = (_view(rms.mean), _view(rms.var), policy.normalizer.epsilon, policy.normalizer.clip_obs)
        self.scale = policy.encoder.scale
        trunk = policy.trunk
        self.layers = [(_view(w), _view(b)) for w, b in zip(trunk.weights, trunk.biases)]
        self.activation = _ACTIVATIONS[trunk.activation_name]
        head = policy.action_head
        self.head_weight, self.head_bias = _view(head.net.weight).T, _view(head.net.bias)
        self.log_std = _view(head.log_std) if isinstance(head, GaussianHead) else None
        self.value_weight, self.value_bias = _view(policy.value_head.weight).T, _view(policy.value_head.bias)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        x = obs.reshape(obs.shape[0], -1).astype(np.float32, copy=False)
        if self.normalizer is not None:
            mean, var, eps, clip = self.normalizer
            x = np.clip((x - mean) / np.sqrt(var + eps), -clip, clip).astype(np.float32)
        return x

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        normalized = self.normalize(obs)
        h = normalized * self.scale if self.scale != 1.0 else normalized
        for weight, bias in self.layers:
            h = self.activation(h @ weight + bias)
        latent_pi, latent_vf = (h[0], h[1]) if h.ndim == 3 else (h, h)
        values = (latent_vf @ self.value_weight + self.value_bias)[:, 0]
        out = latent_pi @ self.head_weight + self.head_bias
        if self.log_std is None:
            z = out - out.max(axis=-1, keepdims=True)
            log_probs_all = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            cdf = np.exp(log_probs_all).cumsum(axis=-1)
            u = self.rng.random((out.shape[0], 1), dtype=np.float32)
            actions = np.minimum((cdf <= u).sum(axis=-1), out.shape[-1] - 1)
            log_probs = log_probs_all[np.arange(out.shape[0]), actions]
        else:
            std = np.exp(self.log_std)
            noise = self.rng.standard_normal(out.shape, dtype=np.float32)
            actions = out + std * noise
            log_probs = (-0.5 * noise * noise - self.log_std - _LOG_SQRT_2PI).sum(axis=-1)
        return normalized.reshape(obs.shape), actions, values, log_probs.astype(np.float32)


def numpy_actor(policy: torch.nn.Module, rng: np.random.Generator) -> NumpyActor | None:
    """A :class:`NumpyActor` for ``policy`` when its structure is the supported one, else None."""
    supported = (
        next(policy.parameters()).device.type == "cpu"
        and isinstance(policy.encoder, FlattenEncoder)
        and getattr(policy, "trunk", None) is not None
        and policy.trunk.activation_name in _ACTIVATIONS
        and len(policy.trunk.weights) > 0
        and type(policy.action_head) in (CategoricalHead, GaussianHead)
        and (policy.normalizer is None or list(policy.normalizer.stats.keys()) == ["obs"])
        and next(policy.parameters()).dtype == torch.float32
    )
    return NumpyActor(policy, rng) if supported else None
