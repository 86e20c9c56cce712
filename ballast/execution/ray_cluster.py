"""Ray: connect to a cluster (or start a private one) and run jobs as Ray tasks.

``--ray ADDRESS`` takes ``host:port`` (the address ``ray start --head`` prints), ``auto`` (the cluster
this machine is part of) or ``local`` (a private cluster in this process, shut down at the end). Each
job is one Ray task that asks for ``cpus`` CPUs and ``gpus`` GPUs, so Ray places as many side by side
as the cluster holds. Ray is an optional dependency: without it the error names the extra to install.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import Future
from types import ModuleType
from typing import Any

from ballast.errors import ConfigurationError, MissingDependencyError

_CONNECT_TIMEOUT_S = 5.0


def import_ray() -> ModuleType:
    """The ``ray`` module, or a :class:`MissingDependencyError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError('running on Ray needs the ray extra: pip install "ballast-rl[ray]"') from None
    return ray


def check_address(address: str) -> None:
    """Fail fast, with a clear message, when nothing listens at ``host:port`` (Ray itself retries
    for a minute before it gives up)."""
    if address in ("auto", "local"):
        return
    if address.startswith("ray://"):
        raise ConfigurationError(f"--ray {address}: Ray Client addresses are not supported; run the command on a "
                                 "node of the cluster and give its GCS address (host:port) or 'auto'")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigurationError(f"--ray {address!r}: give host:port (as printed by `ray start --head`), "
                                 "'auto' or 'local'")
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ConfigurationError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one with "
                                 f"`ray start --head --port={port}` or check the address") from None


class RayExecutor:
    """Jobs as Ray tasks of ``cpus`` CPUs and ``gpus`` GPUs each on the cluster at ``address``.

    ``slots`` (how many tasks are in flight at once) is ``jobs`` when given, else as many as the
    cluster's CPUs (or GPUs) hold. ``close`` disconnects, and shuts down a ``local`` cluster.
    """

    def __init__(self, address: str, *, cpus: float = 1.0, gpus: float = 0.0, jobs: int | None = None) -> None:
        check_address(address)
        ray = import_ray()
        self._ray = ray
        self.address = address
        self.cpus, self.gpus = cpus, gpus
        self._remote: dict[Callable[..., Any], Any] = {}
        try:
            if address == "local":
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except ConnectionError as err:
            raise ConfigurationError(f"cannot connect to a Ray cluster at {address}: {err}") from None
        resources = ray.cluster_resources()
        fits = [resources.get("CPU", 0.0) / cpus if cpus else float("inf")]
        if gpus:
            fits.append(resources.get("GPU", 0.0) / gpus)
        if min(fits) < 1:
            self.close()
            raise ConfigurationError(f"the Ray cluster at {address} has {resources.get('CPU', 0):g} CPUs and "
                                     f"{resources.get('GPU', 0):g} GPUs; one run asks for {cpus:g} CPUs and "
                                     f"{gpus:g} GPUs")
        self.slots = jobs or max(1, int(min(fits)))

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                                                     max_retries=0)
        return remote.remote(*args).future()

    def on_this_node(self, cls: type, *args: Any) -> Any:
        """An actor of ``cls`` on the driver's node (it may read files only the driver's machine has)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = self._ray.get_runtime_context().get_node_id()
        strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        return self._ray.remote(cls).options(num_cpus=0, scheduling_strategy=strategy).remote(*args)

    def get(self, ref: Any) -> Any:
        return self._ray.get(ref)

    def close(self) -> None:
        if self._ray.is_initialized():
            self._ray.shutdown()
