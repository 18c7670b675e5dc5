"""Data-parallel training over devices (and hosts) with `jax.sharding`.

A 1-D mesh named `data` spans the devices. The environment batch is sharded over it: every leaf
of the runner's `actors` (environment states, last timesteps, recurrent carries; axes
`[seed, env, ...]`) is split along the environment axis, so each device steps and acts for
`num_envs / devices` environments. Everything else (parameters, optimiser state, replay buffers,
keys) is replicated. The whole chunk is one program compiled with these input and output
shardings; XLA's SPMD partitioner splits the rollout and the loss over the mesh, and the gradient
of a loss that averages over the sharded batch becomes per-device partial gradients summed by an
all-reduce across the mesh inside the compiled update (tests/test_sharding.py finds the
all-reduce in the compiled program). The result is the same computation as on one device with
the same total batch, up to float summation order, and with `jax_threefry_partitionable` (JAX's
default) the random numbers do not depend on the device count.

Several hosts: start one process per host with `marlspec run ... --distributed`
(`marlspec.distributed.initialize`); `jax.devices()` then lists every host's devices and the
mesh spans them all.
"""

from __future__ import annotations

import itertools
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"
_BARRIERS = itertools.count()


def device_count(devices: int | str) -> int:
    """The number of devices `train.devices` asks for (`all` = every device JAX sees)."""
    return jax.device_count() if devices == "all" else int(devices)


def check(devices: int | str, num_envs: int) -> int:
    """Resolve `train.devices` on this machine, or raise ValueError with a one-line reason."""
    n = device_count(devices)
    available = jax.device_count()
    if n > available:
        raise ValueError(f"train.devices: {n} devices asked for, JAX sees {available} ({jax.devices()[0].platform}); "
                         f"use at most {available} or 'all'")
    if num_envs % n:
        raise ValueError(f"train.devices: train.num_envs = {num_envs} does not split evenly over {n} devices; "
                         "make num_envs a multiple of the device count")
    return n


class DataParallel:
    """Shardings of a batched `RunnerState` (leading seed axis) over a 1-D device mesh."""

    def __init__(self, n: int):
        self.mesh = Mesh(np.array(jax.devices()[:n]), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.by_env = NamedSharding(self.mesh, PartitionSpec(None, AXIS))

    def of(self, rs: Any) -> Any:
        """Shardings matching `eqx.partition(rs, eqx.is_array)[0]`: the leaves under `actors`
        split on the env axis, every other array replicated."""
        def pick(path: tuple[Any, ...], _: Any) -> NamedSharding:
            if path and isinstance(path[0], jax.tree_util.SequenceKey):  # (state, size) of a padded chunk
                path = path[1:]
            return self.by_env if path and getattr(path[0], "name", None) == "actors" else self.replicated

        return jax.tree_util.tree_map_with_path(pick, eqx.filter(rs, eqx.is_array))

    def put(self, rs: Any) -> Any:
        """Place a runner state on the mesh."""
        barrier("marlspec_put")
        dynamic, static = eqx.partition(rs, eqx.is_array)
        return eqx.combine(jax.device_put(dynamic, self.of(rs)), static)


def gather(tree: Any) -> Any:
    """`tree` with every array whole on this process (multi-host: the environment batch is split
    over processes, and a checkpoint needs all of it); the tree itself in one process."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    dynamic, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(multihost_utils.process_allgather(dynamic, tiled=True), static)


def barrier(name: str, timeout_seconds: int = 3600) -> None:
    """Wait until every process gets here (multi-host only; a no-op in one process).

    The first cross-process collective on CPU sets up gloo, which gives the other processes only
    30 s to arrive (a limit fixed inside jaxlib); a host that compiles more slowly than the others
    (a busy machine, a cold compilation cache) would then fail the run. So processes meet at the
    coordination service's barrier, which has no such limit, before running anything that
    communicates. This uses JAX's distributed client, which has no public barrier of its own."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed

    client = distributed.global_state.client
    if client is not None:  # every process passes the same barriers in the same order
        client.wait_at_barrier(f"{name}_{next(_BARRIERS)}", timeout_in_ms=timeout_seconds * 1000)
