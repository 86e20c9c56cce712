"""Running observation and reward normalisation, as modules of the model.

The statistics are buffers of ``nn.Module``s, so they are saved, loaded, moved to a device and
exported together with the weights. They follow Stable-Baselines3's ``VecNormalize``:

* observations: ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)``;
* rewards: divided by the running standard deviation of the discounted return
  ``R_t = gamma * R_{t-1} + r_t`` (reset at episode ends) and clipped to ``±clip_reward``.

The running mean and variance are merged with each new batch by the parallel algorithm of
Chan et al. (1979), in float64 so that long runs do not drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.spaces import is_image_space


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of batches of shape ``(batch, *shape)``."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        # Starts at epsilon, as in SB3, so the first batch is not divided by zero.
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Merge the statistics of ``batch`` (first axis = samples) into the running ones."""
        batch = batch.to(torch.float64)
        mean, var, count = merge_moments(self.mean, self.var, self.count, batch.mean(dim=0),
                                         batch.var(dim=0, unbiased=False), batch.shape[0])
        self.mean.copy_(mean)
        self.var.copy_(var)
        self.count.copy_(count)


def merge_moments(mean: Any, var: Any, count: Any, batch_mean: Any, batch_var: Any, batch_count: Any
                  ) -> tuple[Any, Any, Any]:
    """The mean, (population) variance and count of two sets of samples from each one's (Chan et al.,
    1979, the parallel algorithm): with ``delta = batch_mean - mean`` and ``n = count + batch_count``,
    ``mean + delta * batch_count / n`` and ``(var * count + batch_var * batch_count + delta^2 * count *
    batch_count / n) / n``. NumPy arrays or tensors alike."""
    delta = batch_mean - mean
    total = count + batch_count
    m2 = var * count + batch_var * batch_count + delta * delta * count * batch_count / total
    return mean + delta * batch_count / total, m2 / total, total


class ObservationNormalizer(nn.Module):
    """Normalises the non-image Box parts of an observation (a tensor, or a dict of tensors).

    ``forward`` uses the current statistics without changing them; ``update`` is called by the
    algorithm on the observations it collects while training.
    """

    def __init__(self, observation_space: spaces.Space, clip_obs: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.clip_obs = float(clip_obs)
        self.epsilon = float(epsilon)
        self.stats = nn.ModuleDict()
        if isinstance(observation_space, spaces.Dict):
            for key, sub in observation_space.spaces.items():
                if self._normalizable(sub):
                    self.stats[key] = RunningMeanStd(tuple(sub.shape))
            self.is_dict = True
        else:
            if self._normalizable(observation_space):
                self.stats["obs"] = RunningMeanStd(tuple(observation_space.shape))
            self.is_dict = False

    @staticmethod
    def _normalizable(space: spaces.Space) -> bool:
        return isinstance(space, spaces.Box) and not is_image_space(space)

    @property
    def keys(self) -> list[str]:
        return list(self.stats.keys())

    def _normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        rms = self.stats[key]
        mean = rms.mean.to(torch.float32)
        std = torch.sqrt(rms.var + self.epsilon).to(torch.float32)
        return torch.clamp((x.to(torch.float32) - mean) / std, -self.clip_obs, self.clip_obs)

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.is_dict:
            return {k: self._normalize(k, v) if k in self.stats else v for k, v in obs.items()}
        if "obs" in self.stats:
            return self._normalize("obs", obs)
        return obs

    @torch.no_grad()
    def update(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> None:
        if self.is_dict:
            for key in self.stats:
                self.stats[key].update(obs[key])
        elif "obs" in self.stats:
            self.stats["obs"].update(obs)


class RewardNormalizer(nn.Module):
    """Scales rewards by the running std of the discounted return, per environment copy."""

    def __init__(self, n_envs: int, gamma: float, clip_reward: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.clip_reward = float(clip_reward)
        self.epsilon = float(epsilon)
        self.return_rms = RunningMeanStd(())
        self.register_buffer("returns", torch.zeros(n_envs, dtype=torch.float64))

    def resize(self, n_envs: int) -> None:
        """Start fresh running returns for a new number of env copies (statistics are kept)."""
        self.returns = torch.zeros(n_envs, dtype=torch.float64, device=self.returns.device)

    @torch.no_grad()
    def update_and_normalize(self, rewards: np.ndarray, dones: np.ndarray, valid: np.ndarray | None = None
                             ) -> np.ndarray:
        """Update the return statistics with one vector step and return the scaled rewards.

        ``valid`` marks the copies whose step is a real transition; the others (the reset steps
        of NEXT_STEP autoreset) do not enter the statistics.
        """
        device = self.returns.device
        self.returns.mul_(self.gamma).add_(torch.as_tensor(rewards, dtype=torch.float64, device=device))
        if valid is None or valid.all():
            self.return_rms.update(self.returns)
        elif valid.any():
            self.return_rms.update(self.returns[torch.as_tensor(valid, device=device)])
        self.returns[torch.as_tensor(dones, device=device)] = 0.0
        return self.normalize(rewards)

    def normalize(self, rewards: np.ndarray) -> np.ndarray:
        std = float(np.sqrt(self.return_rms.var.item() + self.epsilon))
        return np.clip(np.asarray(rewards, dtype=np.float64) / std, -self.clip_reward, self.clip_reward)
