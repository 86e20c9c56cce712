"""Training and evaluation mode of a policy: ``learn`` trains in train mode, ``predict`` and evaluation
act in eval mode, so that dropout and batch normalisation behave as PyTorch users expect (and batch
statistics are not changed by acting).

Switching walks every submodule, which costs more than a small network's update; collection and
updates alternate at every env step off-policy. So a policy is switched only when one of its
modules behaves differently in the two modes: PyTorch's dropout, normalisation and recurrent
layers, a module that says so with a class attribute ``uses_training_mode = True``, and any module
from outside PyTorch and Ballast (a user's extractor may read ``self.training``). Ballast's own
modules do not depend on the mode unless they declare it.
"""

from __future__ import annotations

from torch import nn

_MODE_DEPENDENT_TORCH = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
    nn.LazyBatchNorm1d, nn.LazyBatchNorm2d, nn.LazyBatchNorm3d,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.RNNBase, nn.MultiheadAttention,
)


def uses_training_mode(module: nn.Module) -> bool:
    """Whether ``module`` itself (not its children) may act differently in train and eval mode."""
    declared = getattr(type(module), "uses_training_mode", None)
    if declared is not None:
        return bool(declared)
    origin = type(module).__module__
    if origin.startswith("torch."):
        return isinstance(module, _MODE_DEPENDENT_TORCH)
    return not origin.startswith("ballast.")


def set_training_mode(policy: nn.Module, mode: bool) -> None:
    """``policy.train(mode)`` when some submodule depends on the mode (checked once per policy)."""
    if policy.training == mode:
        return
    depends = policy.__dict__.get("_depends_on_training_mode")
    if depends is None:
        depends = any(uses_training_mode(m) for m in policy.modules() if m is not policy)
        policy.__dict__["_depends_on_training_mode"] = depends
    if depends:
        policy.train(mode)
