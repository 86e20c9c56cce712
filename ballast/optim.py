"""Flat parameter storage and optimizers that update it with a few tensor operations.

With all parameters (and their gradients) as views of one contiguous tensor, zeroing the
gradients, clipping their global norm and an Adam or RMSprop step are a handful of tensor
operations in total, instead of a few per parameter plus the bookkeeping of
``torch.optim.Optimizer.step``; for the small networks of RL that bookkeeping otherwise costs
more than the arithmetic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ballast.torch_compat import fused_adam_

_SMALLEST_NORMAL, _HALF = np.float32(np.finfo(np.float32).tiny), np.float32(0.5)


def _flushing_denormals() -> bool:
    """Whether this thread flushes subnormal results to zero now (torch has no getter for the mode;
    a NumPy scalar product runs on the same thread's floating-point unit, in a tenth of a microsecond)."""
    try:
        return bool(_SMALLEST_NORMAL * _HALF == 0)
    except FloatingPointError:  # np.seterr(under="raise"): only a flushed (inexact) product underflows
        return True


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Run the block with subnormal floats read and written as zero on this thread, then restore the mode.

    The optimizers' steps run inside it. Adam's moment estimates of a weight whose gradient stays
    zero (a ReLU unit no sample of the batch activates: 43 % of the gradients of SAC's critics on
    Pendulum-v1 after 1,600 steps, 76 % of DQN's Q-network's on CartPole-v1 after 20,000) decay by
    ``beta1`` each step through the subnormal range (below 1.2e-38 in float32), where x86 CPUs take
    microcode assists on every operation: there SAC's critic step took 1.4 ms instead of 0.09 ms
    and DQN's 0.69 ms instead of 0.05 ms (one thread, Intel Xeon). Flushed, such a moment is zero
    some 150 steps sooner; the parameters' updates differ by less than ``lr * 1e-38 / eps``, far
    below float rounding.
    The mode is per thread: PyTorch's worker threads (more than one torch thread) keep theirs.
    Where the CPU has no such mode, the block runs unchanged.
    """
    if _flushing_denormals() or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def flush_denormals_in_steps(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Make a ``torch.optim`` optimizer's ``step`` run as :func:`denormals_flushed` runs a block
    (step hooks: the mode is set before and restored after each step); returns the optimizer."""
    entered: list[contextlib.AbstractContextManager] = []

    def before(*_: Any) -> None:
        after()  # a step that raised left its mode set: restore it first
        context = denormals_flushed()
        context.__enter__()
        entered.append(context)

    def after(*_: Any) -> None:
        if entered:
            entered.pop().__exit__(None, None, None)

    optimizer.register_step_pre_hook(before)
    optimizer.register_step_post_hook(after)
    return optimizer


def rehome_views(params: list[nn.Parameter], data: torch.Tensor, grad: torch.Tensor | None = None) -> int:
    """Bring back into the flat tensor ``data`` (and ``grad``) every one of ``params`` whose ``.data`` was
    replaced since they were made its views (e.g. by ``torch.nn.utils.vector_to_parameters``, which
    assigns ``param.data``): its new values are copied in and it is a view again, so what updates the
    flat tensor updates it. Returns how many there were."""
    rehomed, offset = 0, 0
    for p in params:
        n = p.numel()
        home = data[offset:offset + n]
        if p.data.data_ptr() != home.data_ptr():
            home.copy_(p.data.reshape(-1))
            p.data = home.view_as(p)
            if grad is not None:
                p.grad = grad[offset:offset + n].view_as(p)
            rehomed += 1
        offset += n
    return rehomed


class FlatParameters:
    """Re-home ``params`` into one flat tensor ``self.param`` whose ``.grad`` holds all gradients.

    The modules keep their parameters (now views), so forward passes, ``state_dict`` and
    ``load_state_dict`` work as before. Moving the module to another device afterwards breaks the
    views: build the flat storage after ``.to(device)``.
    """

    def __init__(self, params: Iterable[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters to flatten")
        device, dtype = self.params[0].device, self.params[0].dtype
        total = sum(p.numel() for p in self.params)
        data = torch.empty(total, device=device, dtype=dtype)
        grad = torch.zeros(total, device=device, dtype=dtype)
        offset = 0
        for p in self.params:
            n = p.numel()
            data[offset:offset + n].copy_(p.data.reshape(-1))
            p.data = data[offset:offset + n].view_as(p)
            p.grad = grad[offset:offset + n].view_as(p)
            offset += n
        self.param = nn.Parameter(data)
        self.param.grad = grad

    def rehome(self) -> int:
        """:func:`rehome_views` of these parameters and their gradients; how many were brought back."""
        return rehome_views(self.params, self.param.data, self.param.grad)

    def zero_grad(self) -> None:
        self.param.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale the gradients so that their global L2 norm is at most ``max_norm``; returns the norm.

        Same rule as ``torch.nn.utils.clip_grad_norm_``: ``g *= min(1, max_norm / (||g|| + 1e-6))``.
        """
        grad = self.param.grad
        norm = torch.linalg.vector_norm(grad)
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


class FlatOptimizer:
    """Base of the flat optimizers: ``param_groups[0]["lr"]`` and a state dict like torch's."""

    def __init__(self, flat: FlatParameters, lr: float, **hyperparameters: float) -> None:
        self.flat = flat
        self.param_groups: list[dict[str, Any]] = [{"lr": float(lr), **hyperparameters, "params": [0]}]
        self.state: dict[str, torch.Tensor] = {}

    def zero_grad(self, set_to_none: bool = False) -> None:
        self.flat.zero_grad()

    def state_dict(self) -> dict[str, Any]:
        return {"state": {0: dict(self.state)} if self.state else {}, "param_groups": self.param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.param_groups = [dict(g) for g in state_dict["param_groups"]]
        saved = state_dict["state"].get(0, state_dict["state"].get("0", {}))
        self.state = {k: v.to(self.flat.param.device) if isinstance(v, torch.Tensor) else v for k, v in saved.items()}


class FlatAdam(FlatOptimizer):
    """Adam (Kingma & Ba, 2015, arXiv:1412.6980) on a flat parameter, as ``torch.optim.Adam(fused=True)``
    computes it.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``, in one pass over the flat tensor
    (``torch._fused_adam_``, through :func:`ballast.torch_compat.fused_adam_`, which falls back on
    tensor operations where a torch lacks it). It keeps the state ``torch.optim.Adam(fused=True)``
    keeps (a float32 ``step`` tensor, ``exp_avg``, ``exp_avg_sq``), so their state dicts load into each
    other, and skips the bookkeeping of ``torch.optim.Optimizer.step`` (step hooks, profiler records,
    grad-mode switches), which for the networks of RL costs more than the kernel itself. A state saved
    with a float64 ``step`` (``torch.optim.Adam``'s default) loads too. The step runs with subnormal
    floats flushed to zero (:func:`denormals_flushed`).
    """

    def __init__(self, flat: FlatParameters, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(flat, lr, eps=float(eps))
        self.param_groups[0]["betas"] = [float(betas[0]), float(betas[1])]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "step" in self.state:
            self.state["step"] = self.state["step"].to(torch.float32)

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        param = self.flat.param
        if not self.state:
            self.state = {"step": torch.zeros((), dtype=torch.float32, device=param.device),
                          "exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
        state = self.state
        state["step"].add_(1)
        with denormals_flushed():
            fused_adam_(param, param.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], lr=group["lr"],
                        beta1=group["betas"][0], beta2=group["betas"][1], eps=group["eps"])


class FlatRMSprop(FlatOptimizer):
    """RMSprop as ``torch.optim.RMSprop`` computes it: ``s = alpha s + (1 - alpha) g^2``,
    ``p -= lr * g / (sqrt(s) + eps)`` (Tieleman & Hinton, 2012)."""

    def __init__(self, flat: FlatParameters, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(flat, lr, alpha=float(alpha), eps=float(eps))

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        param, grad = self.flat.param, self.flat.param.grad
        if not self.state:
            self.state = {"step": torch.zeros((), dtype=torch.float64), "square_avg": torch.zeros_like(param)}
        self.state["step"] += 1
        square_avg = self.state["square_avg"]
        with denormals_flushed():
            square_avg.mul_(group["alpha"]).addcmul_(grad, grad, value=1.0 - group["alpha"])
            param.addcdiv_(grad, square_avg.sqrt().add_(group["eps"]), value=-group["lr"])


def make_adam(flat: FlatParameters, lr: float, eps: float = 1e-8) -> FlatAdam:
    """Adam over ``flat`` with PyTorch's default betas."""
    return FlatAdam(flat, lr=lr, eps=eps)


class RMSpropTFLike(torch.optim.Optimizer):
    """RMSprop as TensorFlow computes it (SB3's ``sb2_compat.rmsprop_tf_like.RMSpropTFLike``).

    For each parameter ``p`` with gradient ``g`` (plus ``weight_decay * p``)::

        s   = alpha * s + (1 - alpha) * g^2                    (s starts at 1, not 0)
        c   = alpha * c + (1 - alpha) * g;  v = s - c^2        (centered only; else v = s)
        d   = g / sqrt(v + eps)                                (eps inside the square root)
        b   = momentum * b + d;  p -= lr * b                   (momentum > 0; else p -= lr * d)

    Two differences from ``torch.optim.RMSprop`` (``s`` from 0, ``g / (sqrt(v) + eps)``) make the first
    updates much smaller; Stable-Baselines' TensorFlow A2C used this form, and rl-baselines3-zoo's
    Atari A2C settings (``eps=1e-5``) assume it.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        for name, value in (("learning rate", lr), ("epsilon", eps), ("momentum", momentum),
                            ("weight_decay", weight_decay), ("alpha", alpha)):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name} value: {value}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha = group["alpha"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("RMSpropTFLike does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                square_avg = state["square_avg"].mul_(alpha).addcmul_(grad, grad, value=1.0 - alpha)
                if group["centered"]:
                    grad_avg = state["grad_avg"].mul_(alpha).add_(grad, alpha=1.0 - alpha)
                    avg = square_avg.addcmul(grad_avg, grad_avg, value=-1.0).add_(group["eps"]).sqrt_()
                else:
                    avg = square_avg.add(group["eps"]).sqrt_()
                if group["momentum"] > 0:
                    buffer = state["momentum_buffer"].mul_(group["momentum"]).addcdiv_(grad, avg)
                    p.add_(buffer, alpha=-group["lr"])
                else:
                    p.addcdiv_(grad, avg, value=-group["lr"])
        return loss
