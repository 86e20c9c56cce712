"""A NumPy evaluation of the acting path of an MLP actor-critic, for collecting rollouts on CPU.

Collecting a rollout calls the policy once per vector step on a batch of ``n_envs``
observations; for the small networks of RL, PyTorch's per-operation overhead then costs more
than the arithmetic. :class:`NumpyActor` computes the same function with NumPy views of the
policy's own parameters (no copies: updates to the parameters are seen at once) for the common
case: vector observations (optionally normalised), the stacked actor-critic MLP, and a
categorical or diagonal Gaussian head over Discrete or Box actions. For any other policy
:func:`numpy_actor` returns ``None`` and rollouts use PyTorch. The update step always uses PyTorch and autograd.
"""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np
import torch

from ballast.encoders.standard import FlattenEncoder
from ballast.policies.actor_critic import ActorCriticPolicy
from ballast.policies.heads import CategoricalHead, GaussianHead

#: Up to this many actions, one observation's action is sampled with Python floats.
SCALAR_SAMPLING_MAX = 16
_ACTIVATIONS = {"Tanh": np.tanh, "ReLU": lambda x: np.maximum(x, 0.0)}


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


class NumpyActor:
    """``actor(obs) -> (normalised_obs, actions, env_actions)`` for a batch of raw observations.

    Only the actor half is evaluated: values and log-probabilities of a whole rollout are computed
    afterwards in one batched PyTorch pass (the parameters do not change during a rollout).
    """

    def __init__(self, policy: torch.nn.Module, rng: np.random.Generator) -> None:
        self.rng = rng
        self.normalizer = None
        if policy.normalizer is not None:
            rms = policy.normalizer.stats["obs"]
            self.normalizer = (_view(rms.mean), _view(rms.var), policy.normalizer.epsilon, policy.normalizer.clip_obs)
        self.scale = policy.encoder.scale
        trunk = policy.trunk
        self.layers = [(_view(w)[0], _view(b)[0]) for w, b in zip(trunk.weights, trunk.biases)]
        self.activation = _ACTIVATIONS[trunk.activation_name]
        head = policy.action_head
        self.head_weight, self.head_bias = _view(head.net.weight).T, _view(head.net.bias)
        self.log_std = _view(head.log_std) if isinstance(head, GaussianHead) else None
        adapter = policy.action_adapter
        self.action_shape = adapter.shape
        if self.log_std is None:
            self.offset = int(adapter.start[0])
        else:
            self.low, self.high = adapter.low.numpy().copy(), adapter.high.numpy().copy()

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        x = obs.reshape(obs.shape[0], -1).astype(np.float32, copy=False)
        if self.normalizer is not None:
            mean, var, eps, clip = self.normalizer
            x = np.clip((x - mean) / np.sqrt(var + eps), -clip, clip).astype(np.float32)
        return x

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        normalized = self.normalize(obs)
        h = normalized * self.scale if self.scale != 1.0 else normalized
        for weight, bias in self.layers:
            h = self.activation(h @ weight + bias)
        out = h @ self.head_weight + self.head_bias
        if self.log_std is None:
            actions = self._sample_categorical(out)
            env_actions = actions + self.offset
        else:
            actions = out + np.exp(self.log_std) * self.rng.standard_normal(out.shape, dtype=np.float32)
            env_actions = np.clip(actions, self.low, self.high).reshape(actions.shape[0], *self.action_shape)
        return normalized.reshape(obs.shape), actions, env_actions


    def _sample_categorical(self, logits: np.ndarray) -> np.ndarray:
        """Inverse-CDF sampling from ``softmax(logits)`` per row, as :meth:`ballast.distributions.Categorical.sample`:
        the number of cumulative probabilities ``<= u``, for ``u`` uniform over their total."""
        n = logits.shape[-1]
        if logits.shape[0] == 1 and n <= SCALAR_SAMPLING_MAX:
            # One observation (one env) and a few actions: Python floats cost less than array calls.
            row = logits[0].tolist()
            top = max(row)
            cdf = list(itertools.accumulate(math.exp(v - top) for v in row))
            u = float(self.rng.random(dtype=np.float32)) * cdf[-1]
            return np.array([min(bisect.bisect_right(cdf, u), n - 1)])
        cdf = np.exp(logits - logits.max(axis=-1, keepdims=True)).cumsum(axis=-1)
        u = self.rng.random((logits.shape[0], 1), dtype=np.float32) * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=-1), n - 1)


def numpy_actor(policy: torch.nn.Module, rng: np.random.Generator) -> NumpyActor | None:
    """A :class:`NumpyActor` for ``policy`` when its structure is the supported one, else None."""
    supported = (
        # A subclass that changes how the policy acts (forward, the one override point) acts through it.
        all(getattr(type(policy), name) is getattr(ActorCriticPolicy, name)
            for name in ("forward", "outputs", "act", "latents", "_latents_from"))
        and next(policy.parameters()).device.type == "cpu"
        and getattr(policy, "residual", None) is None
        and isinstance(policy.encoder, FlattenEncoder)
        and getattr(policy, "trunk", None) is not None
        and policy.trunk.activation_name in _ACTIVATIONS
        and len(policy.trunk.weights) > 0
        and type(policy.action_head) in (CategoricalHead, GaussianHead)
        and policy.action_adapter.kind in ("Discrete", "Box")
        and not policy.action_adapter.squashed
        and (policy.normalizer is None or list(policy.normalizer.stats.keys()) == ["obs"])
        and next(policy.parameters()).dtype == torch.float32
    )
    return NumpyActor(policy, rng) if supported else None
