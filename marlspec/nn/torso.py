"""Torsos: feature extractors with one step-wise interface for feed-forward and
recurrent networks, so that rollouts (one step) and updates (a scan over time)
call the same code. Every `__call__` handles one example; callers `vmap`."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
}


def _one_key_at_a_time(fn: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """`fn(key)`, but under `vmap` it runs once per key (`lax.map`) instead of batched.

    For the orthogonal init: batched, it becomes one LAPACK QR over the whole batch, and
    jaxlib 0.10's CPU QR kernels split a batch over the FFI thread pool and wait for the
    parts. Two such kernels running side by side (a network has several layers; seeds and
    HAPPO's agents are vmapped) can occupy the pool's threads while each waits for parts that
    never get a thread: the program hangs at 0% CPU (seen here three times in the first call
    of the runner's `init_states`; a native stack showed `jax::QrFactorization` in
    `ParallelBatchMap`). Unbatched QRs do not split, and initialisation is cheap."""
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size: int, in_batched: list[bool], key: Array) -> tuple[Array, bool]:
        if not in_batched[0]:
            return wrapped(key), False
        return jax.lax.map(wrapped, key), True

    return wrapped


def linear(key: PRNGKeyArray, in_dim: int, out_dim: int, scale: float = 2**0.5) -> eqx.nn.Linear:
    """A Linear layer with orthogonal weights of gain `scale` and zero bias (the usual PPO init)."""
    layer = eqx.nn.Linear(in_dim, out_dim, key=key)
    orthogonal = _one_key_at_a_time(
        lambda k: jax.nn.initializers.orthogonal(scale)(k, (out_dim, in_dim), jnp.float32))
    weight = orthogonal(key)
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, jnp.zeros((out_dim,), jnp.float32)))


class Torso(eqx.Module):
    """`(hidden, x, reset) -> (hidden, features)`. `reset` zeroes the hidden state first
    (an episode starts at this step). Feed-forward torsos carry an empty hidden state."""

    out_dim: eqx.AbstractVar[int]
    hidden_dim: eqx.AbstractVar[int]

    def init_hidden(self) -> Float[Array, " H"]:
        return jnp.zeros((self.hidden_dim,), jnp.float32)

    @abc.abstractmethod
    def __call__(
        self, hidden: Float[Array, " H"], x: Float[Array, " d"], reset: Bool[Array, ""]
    ) -> tuple[Float[Array, " H"], Float[Array, " f"]]: ...


class MLPTorso(Torso):
    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)
    out_dim: int = eqx.field(static=True)
    hidden_dim: int = eqx.field(static=True)

    def __init__(self, in_dim: int, hidden: Sequence[int], activation: str, *, key: PRNGKeyArray):
        sizes = [in_dim, *hidden]
        keys = jax.random.split(key, max(1, len(hidden)))
        self.layers = tuple(linear(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=False))
        self.activation = ACTIVATIONS[activation]
        self.out_dim = sizes[-1]
        self.hidden_dim = 0

    def __call__(
        self, hidden: Float[Array, " H"], x: Float[Array, " d"], reset: Bool[Array, ""]
    ) -> tuple[Float[Array, " H"], Float[Array, " f"]]:
        for layer in self.layers:
            x = self.activation(layer(x))
        return hidden, x


class GRUTorso(Torso):
    """Linear -> activation -> GRU cell. The hidden state is zeroed where `reset`."""

    fc: eqx.nn.Linear
    cell: eqx.nn.GRUCell
    activation: Callable[[Array], Array] = eqx.field(static=True)
    out_dim: int = eqx.field(static=True)
    hidden_dim: int = eqx.field(static=True)

    def __init__(self, in_dim: int, fc: int, hidden: int, activation: str, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.fc = linear(k1, in_dim, fc)
        self.cell = eqx.nn.GRUCell(fc, hidden, key=k2)
        self.activation = ACTIVATIONS[activation]
        self.out_dim = hidden
        self.hidden_dim = hidden

    def __call__(
        self, hidden: Float[Array, " H"], x: Float[Array, " d"], reset: Bool[Array, ""]
    ) -> tuple[Float[Array, " H"], Float[Array, " f"]]:
        hidden = jnp.where(reset, jnp.zeros_like(hidden), hidden)
        hidden = self.cell(self.activation(self.fc(x)), hidden)
        return hidden, hidden


@dataclasses.dataclass(frozen=True)
class TorsoFactory:
    """How a spec's `network` section reaches the algorithms: `factory(in_dim, key)`
    builds a torso; `hidden_dim` is the size of its recurrent state (0 if none)."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    fc: int = 64
    activation: str = "tanh"

    @property
    def hidden_dim(self) -> int:
        return self.hidden[0] if self.kind == "gru" else 0

    def __call__(self, in_dim: int, key: PRNGKeyArray) -> Torso:
        if self.kind == "gru":
            return GRUTorso(in_dim, self.fc, self.hidden[0], self.activation, key=key)
        return MLPTorso(in_dim, self.hidden, self.activation, key=key)


class Net(eqx.Module):
    """A torso followed by a linear head: `(hidden, x, reset) -> (hidden, output)`."""

    torso: Torso
    head: eqx.nn.Linear

    def __init__(self, make_torso: TorsoFactory, in_dim: int, out_dim: int, head_scale: float, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.torso = make_torso(in_dim, k1)
        self.head = linear(k2, self.torso.out_dim, out_dim, head_scale)

    def init_hidden(self) -> Float[Array, " H"]:
        return self.torso.init_hidden()

    def __call__(
        self, hidden: Float[Array, " H"], x: Float[Array, " d"], reset: Bool[Array, ""]
    ) -> tuple[Float[Array, " H"], Float[Array, " o"]]:
        hidden, features = self.torso(hidden, x, reset)
        return hidden, self.head(features)

    def unroll(
        self, hidden: Float[Array, " H"], xs: Float[Array, "T d"], resets: Bool[Array, " T"]
    ) -> tuple[Float[Array, "T H"], Float[Array, "T o"]]:
        """Run over a sequence; returns the hidden state *after* each step and the outputs."""

        def step(h: Array, inp: tuple[Array, Array]) -> tuple[Array, tuple[Array, Array]]:
            h, out = self(h, *inp)
            return h, (h, out)

        _, (hs, outs) = jax.lax.scan(step, hidden, (xs, resets))
        return hs, outs
