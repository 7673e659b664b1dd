"""Start or join Ray, on the loopback address only, and check that `resources` fits.

Ray is imported only here and only when resources.rollout_workers > 0: a run in one
process never imports it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from focusrl.configtools import ConfigError
from focusrl.distributed.config import ResourcesConfig

log = logging.getLogger(__name__)


def require_ray() -> Any:
    """The ray module, or a ConfigError naming the extra to install."""
    # Read when Ray is imported: without it, its servers listen on every interface.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            "resources.rollout_workers > 0 runs rollout workers on Ray, which is not "
            f"installed ({type(e).__name__}: {e}). Install the extra: "
            "pip install 'focusrl[ray]' (scripts/setup.sh does), or set "
            "resources.rollout_workers=0 to run in one process.") from e
    return ray


def init_ray(res: ResourcesConfig) -> tuple[Any, bool]:
    """(ray, started_here). 'local' starts a private instance whose every socket listens on
    127.0.0.1 (Ray's default is all interfaces); an address joins that cluster."""
    ray = require_ray()
    if ray.is_initialized():
        return ray, False
    from ray._private import ray_constants

    if res.ray_address == "local" and ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            "Ray was imported before focusrl could set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, so "
            "a local Ray would listen on every network interface: set that variable in the "
            "environment, or import focusrl.distributed.ray_setup before ray.")
    if res.ray_address == "local":  # workers inherit this process's environment (PYTHONPATH)
        cpus = res.ray_cpus or max(1, int(round(res.rollout_workers * res.rollout_worker_cpus
                                                + res.reward_workers * res.reward_worker_cpus)))
        ray.init(num_cpus=cpus, num_gpus=_local_gpus(), _node_ip_address="127.0.0.1",
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=res.ray_address, include_dashboard=False, log_to_driver=False)
    return ray, True


def release_actors(ray: Any, workers: list[Any], started_here: bool) -> None:
    """Kill a pool's actors, and shut Ray down if `init_ray` started it for this pool."""
    for w in workers:
        ray.kill(w)
    if started_here:
        ray.shutdown()


def check_resources(ray: Any, res: ResourcesConfig) -> None:
    """Raise a ConfigError naming what the cluster lacks for `res`."""
    have = ray.cluster_resources()
    rollout_cpus = res.rollout_workers * res.rollout_worker_cpus
    reward_cpus = res.reward_workers * res.reward_worker_cpus
    need = {"CPU": (rollout_cpus + reward_cpus,
                    f"{res.rollout_workers} rollout workers x {res.rollout_worker_cpus:g}"
                    + (f" + {res.reward_workers} reward workers x {res.reward_worker_cpus:g}"
                       if reward_cpus else "")),
            "GPU": (res.rollout_workers * res.rollout_worker_gpus,
                    f"{res.rollout_workers} rollout workers x {res.rollout_worker_gpus:g}")}
    missing = [f"{kind}: {want:g} wanted ({why}), {have.get(kind, 0.0):g} in the cluster"
               for kind, (want, why) in need.items() if want > have.get(kind, 0.0) + 1e-9]
    if missing:
        raise ConfigError(
            "resources cannot be satisfied by the Ray cluster: " + "; ".join(missing)
            + ". Lower resources.rollout_workers / rollout_worker_cpus / rollout_worker_gpus"
            " / reward_workers / reward_worker_cpus (or raise resources.ray_cpus for the "
            "local cluster).")


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA runtime: no GPUs
        return 0
