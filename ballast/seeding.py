"""Random generators: a model's own torch stream, and seeding the process-wide generators.

Each Ballast model draws from generators of its own (see :class:`TorchStream` and the model's
NumPy generator), seeded from its ``seed`` and saved in its checkpoint, so that an unrelated draw
elsewhere in the process never changes a seeded run and loading a model never changes the
process's generators. :func:`set_random_seed` is SB3's helper, for scripts that draw from the
global generators (Python's ``random``, NumPy's legacy global generator, torch's default
generators) themselves.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import numpy as np
import torch


def set_random_seed(seed: int, using_cuda: bool = False) -> None:
    """Seed ``random``, ``numpy.random`` and torch (CPU and every CUDA device) with ``seed``.

    ``using_cuda=True`` also makes cuDNN choose deterministic algorithms (slower, reproducible), as in SB3.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if using_cuda:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _cuda_index(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return torch.cuda.current_device() if device.index is None else device.index


class TorchStream:
    """A model's own torch random stream: the state of torch's default CPU generator (and of the
    model's CUDA device's generator) while the model draws.

    torch's samplers (``torch.randn``, ``Tensor.normal_``, ``nn.init``, ...) draw from the default
    generators. Rather than passing ``generator=`` to every call, a model runs its public methods
    (construction, ``learn``, ``predict``, ``train``) inside ``with stream:``, which swaps this
    stream's state into the default generators and back out: one swap per call, never per tensor
    operation. Nesting is free: an inner ``with`` of the same stream (``predict`` inside a callback
    during ``learn``) does nothing; another model's stream swaps in and out around it.
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self._cuda = _cuda_index(torch.device(device))
        self._depth = 0
        self._saved: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._cuda_state: torch.Tensor | None = None
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> None:
        """Restart the stream as ``torch.manual_seed(seed)`` would start the default generators."""
        cpu = torch.Generator()
        cpu.manual_seed(int(seed))
        cuda = None
        if self._cuda is not None:
            generator = torch.Generator(device=torch.device("cuda", self._cuda))
            generator.manual_seed(int(seed))
            cuda = generator.get_state()
        self.set_state(cpu.get_state(), cuda)

    def get_state(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(CPU state, CUDA state or None)`` as uint8 tensors, current even while the stream is active."""
        if self._depth:
            return torch.get_rng_state(), self._get_cuda()
        return self._cpu_state.clone(), None if self._cuda_state is None else self._cuda_state.clone()

    def set_state(self, cpu: torch.Tensor, cuda: torch.Tensor | None = None) -> None:
        """Continue the stream from a state :meth:`get_state` gave (a CUDA state is used only on CUDA)."""
        self._cpu_state = cpu.detach().to("cpu", torch.uint8).clone()
        if self._cuda is not None and cuda is not None:
            self._cuda_state = cuda.detach().to("cpu", torch.uint8).clone()
        if self._depth:
            torch.set_rng_state(self._cpu_state)
            self._set_cuda(self._cuda_state)

    def _get_cuda(self) -> torch.Tensor | None:
        return None if self._cuda is None else torch.cuda.get_rng_state(self._cuda)

    def _set_cuda(self, state: torch.Tensor | None) -> None:
        if self._cuda is not None and state is not None:
            torch.cuda.set_rng_state(state, self._cuda)

    def __enter__(self) -> TorchStream:
        if self._depth == 0:
            self._saved = torch.get_rng_state(), self._get_cuda()
            torch.set_rng_state(self._cpu_state)
            self._set_cuda(self._cuda_state)
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._cpu_state = torch.get_rng_state()
            if self._cuda is not None:
                self._cuda_state = self._get_cuda()
            cpu, cuda = self._saved
            torch.set_rng_state(cpu)
            self._set_cuda(cuda)
            self._saved = None


def draw_seed() -> int:
    """A seed drawn from torch's default generator: the seed of a model built with ``seed=None``, so
    that ``torch.manual_seed(s)`` before building it still fixes its stream, as in SB3."""
    return int(torch.randint(0, 2**62, ()).item())


@contextmanager
def global_generators_kept() -> Iterator[None]:
    """Leave the process-wide generators (Python's ``random``, NumPy's global generator, torch's
    CPU and initialised CUDA generators) as they were, whatever the block draws."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
