"""What every off-policy value-decomposition learner shares (VDN, QMIX, FOP, MACPF;
later MIPI): the episode replay in the learner state, target networks with hard
updates, epsilon and temperature schedules, per-group optimisers with gradient-norm
clipping, and recurrent agent networks fed (observation, last action, agent id).

The runner does not know it is off-policy: `update(state, trajectory, key)` adds the
trajectory to the replay held in the state, then takes `train_steps` gradient steps,
each on a fresh batch of whole episodes, once the replay holds `batch_size` of them.
A concrete algorithm supplies only `init_params`, `loss` and `act`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlspec.algorithms.base import Algorithm, Trajectory
from marlspec.algorithms.replay import EpisodeReplay, Episodes, ReplayState
from marlspec.envs.base import EnvInfo, agent_ids
from marlspec.nn import Net, Torso, TorsoFactory
from marlspec.primitives import factorization as fz


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    """Hyper-parameters of the off-policy family, filled by `marlspec.compile` from the spec
    (`marlspec.spec.algorithms.OffPolicySpec` and its kinds), which holds every default: nothing
    here has one. A field that a kind's spec does not have (a temperature for QMIX, a mixer
    width for VDN) is None: it does not apply to that kind, and reading it as a number fails."""

    gamma: float
    td_lambda: float
    buffer_size: int
    batch_size: int
    train_steps: int
    target_update_interval: int
    target_update_unit: str
    reward_scale: float
    optimizer: str
    lr: float
    max_grad_norm: float
    epsilon_start: float
    epsilon_end: float
    epsilon_anneal_steps: int
    alpha_start: float | None
    alpha_end: float | None
    alpha_anneal_steps: int | None
    last_action: bool
    agent_id: bool
    num_envs: int
    double_q: bool | None
    mixing_embed: int | None
    hypernet_embed: int | None
    dependency_embed: int | None
    attention_heads: int | None
    mixing: str | None
    """MACPF's mixing of the per-agent utilities: "eq6" (`mixers.conditional_soft_mix`) or
    "linear" (`mixers.linear_hypernet`, the authors' code)."""
    first_agent_correction: bool | None
    """MACPF: whether agent 0 (no earlier agents) gets dependency corrections."""
    normalize_state: bool


T = TypeVar("T")


def given(value: T | None, name: str) -> T:
    """An `OffPolicyConfig` field that the kind using it must have (None: its spec has no such
    field, so the config does not apply it); fails loudly instead of building with a stand-in."""
    if value is None:
        raise ValueError(f"algorithm.{name}: this kind's spec has no such field, but its algorithm reads it")
    return value


class StateMoments(eqx.Module):
    """Running mean and variance of the global state over every step seen (Chan et al.'s
    parallel update), for standardising what the mixers read."""

    count: Float[Array, ""]
    mean: Float[Array, " S"]
    m2: Float[Array, " S"]

    def update(self, x: Float[Array, "n S"]) -> StateMoments:
        n = jnp.asarray(x.shape[0], jnp.float32)
        mean, var = x.mean(0), x.var(0)
        total = self.count + n
        delta = mean - self.mean
        return StateMoments(total, self.mean + delta * n / total, self.m2 + var * n + delta**2 * self.count * n / total)

    def standardize(self, state: Float[Array, "*b S"]) -> Float[Array, "*b S"]:
        """(s - mean) / std, with std floored at 0.01 (constant features stay 0) and the result clipped to +-10."""
        std = jnp.maximum(jnp.sqrt(self.m2 / jnp.maximum(self.count, 1.0)), 1e-2)
        mean, std = jnp.broadcast_to(self.mean, state.shape), jnp.broadcast_to(std, state.shape)
        return jnp.clip((state - mean) / std, -10.0, 10.0)


class OffPolicyState(eqx.Module):
    params: tuple[Any, ...]
    """Online networks, in optimiser groups (each group has its own optimiser and clip)."""
    target: tuple[Any, ...]
    """Hard-updated copy of `params`."""
    opt_state: tuple[Any, ...]
    replay: ReplayState
    env_steps: Int[Array, ""]
    last_target: Int[Array, ""]
    """The target-update clock (`replay.added`, or gradient steps) at the last target update."""
    state_moments: StateMoments
    """Statistics of the global state, when the config standardises it for the mixers."""


def linear_schedule(start: float, end: float, steps: int, t: Array) -> Float[Array, ""]:
    """Linear from `start` to `end` over `steps`, flat afterwards (PyMARL's DecayThenFlat), as
    `optax.linear_schedule` evaluated at `t`."""
    return jnp.asarray(optax.linear_schedule(start, end, steps)(t), jnp.float32)


def _select(pred: Bool[Array, ""], on_true: Any, on_false: Any) -> Any:
    """`on_true` where `pred`, else `on_false`, leaf by leaf (static parts taken from `on_false`)."""
    a, _ = eqx.partition(on_true, eqx.is_array)
    b, static = eqx.partition(on_false, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b), static)


def unroll_features(torso: Torso, xs: Float[Array, "T N d"]) -> Float[Array, "T N F"]:
    """Run a shared torso over one episode for every agent, from a zero recurrent state
    (episodes are sampled whole, so position 0 is the episode start)."""

    def per_agent(x: Float[Array, "T d"]) -> Float[Array, "T F"]:
        def step(h: Array, xt: Array) -> tuple[Array, Array]:
            h, f = torso(h, xt, jnp.zeros((), bool))
            return h, f

        return jax.lax.scan(step, torso.init_hidden(), x)[1]

    return jax.vmap(per_agent, in_axes=1, out_axes=1)(xs)


def heads(net: Net, features: Float[Array, "*b F"]) -> Float[Array, "*b o"]:
    """Apply a network's linear head over any leading axes."""
    return jnp.vectorize(net.head, signature="(f)->(o)")(features)


def take(values: Float[Array, "*b A"], actions: Int[Array, "*b"]) -> Float[Array, "*b"]:
    """values[..., a] at the given actions."""
    return jnp.take_along_axis(values, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


class OffPolicy(Algorithm):
    """Abstract base of the off-policy learners; subclasses are final."""

    info: eqx.AbstractVar[EnvInfo]
    config: eqx.AbstractVar[OffPolicyConfig]
    make_torso: eqx.AbstractVar[TorsoFactory]

    # ------------------------------------------------------------ to implement
    @abc.abstractmethod
    def init_params(self, key: PRNGKeyArray) -> tuple[Any, ...]:
        """The online networks, as a tuple of optimiser groups."""

    @abc.abstractmethod
    def loss(
        self, params: tuple[Any, ...], target: tuple[Any, ...], batch: Episodes, key: PRNGKeyArray,
        alpha: Float[Array, ""],
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        """The training loss on a batch of episodes (gradients routed by stop-gradients)."""

    def __check_init__(self) -> None:
        self.replay  # noqa: B018 - refuses a replay too small for the environments, at build time

    # ------------------------------------------------------------------ shared
    @property
    def replay(self) -> EpisodeReplay:
        return EpisodeReplay(self.config.buffer_size, self.info.max_steps, self.config.num_envs)

    @property
    def input_dim(self) -> int:
        c, info = self.config, self.info
        return info.obs_dim + (info.num_actions if c.last_action else 0) + (info.num_agents if c.agent_id else 0)

    def optimizer(self) -> optax.GradientTransformation:
        c = self.config
        if c.optimizer == "rmsprop":  # PyTorch's RMSprop as in PyMARL: alpha 0.99, eps 1e-5 outside the sqrt
            base = optax.rmsprop(c.lr, decay=0.99, eps=1e-5, eps_in_sqrt=False)
        else:
            base = optax.adam(c.lr, eps=1e-5)
        return optax.chain(optax.clip_by_global_norm(c.max_grad_norm), base)

    def epsilon(self, state: OffPolicyState) -> Float[Array, ""]:
        c = self.config
        return linear_schedule(c.epsilon_start, c.epsilon_end, c.epsilon_anneal_steps, state.env_steps)

    def alpha(self, env_steps: Int[Array, ""]) -> Float[Array, ""]:
        """The entropy temperature at `env_steps` (0 for the kinds that have none: VDN, QMIX)."""
        c = self.config
        if c.alpha_start is None or c.alpha_end is None or c.alpha_anneal_steps is None:
            return jnp.zeros((), jnp.float32)
        return linear_schedule(c.alpha_start, c.alpha_end, c.alpha_anneal_steps, env_steps)

    def init(self, key: PRNGKeyArray) -> OffPolicyState:
        params = self.init_params(key)
        opt = self.optimizer()
        opt_state = tuple(opt.init(eqx.filter(g, eqx.is_inexact_array)) for g in params)
        zero = jnp.zeros((), jnp.int32)
        s = self.info.state_dim
        moments = StateMoments(jnp.zeros((), jnp.float32), jnp.zeros((s,), jnp.float32), jnp.zeros((s,), jnp.float32))
        return OffPolicyState(params, params, opt_state, self.replay.init(self.info), zero, zero, moments)

    def initial_carry(self) -> tuple[Array, Array]:
        n, a = self.info.num_agents, self.info.num_actions
        return jnp.zeros((n, self.make_torso.hidden_dim), jnp.float32), jnp.zeros((n, a), jnp.float32)

    def agent_inputs(self, obs: Float[Array, "N obs"], last_action: Float[Array, "N A"]) -> Float[Array, "N d"]:
        """[observation, previous action (one-hot), agent id] per agent, as in PyMARL."""
        parts = [obs]
        if self.config.last_action:
            parts.append(last_action)
        if self.config.agent_id:
            parts.append(agent_ids(obs.shape[0]))
        return jnp.concatenate(parts, axis=-1)

    def episode_inputs(self, ep: Episodes) -> Float[Array, "L1 N d"]:
        """`agent_inputs` at every position of one episode (the action before step 0 is none)."""
        onehot = jax.nn.one_hot(ep.actions, self.info.num_actions)
        last = jnp.concatenate([jnp.zeros_like(onehot[:1]), onehot[:-1]], axis=0)
        return jax.vmap(self.agent_inputs)(ep.obs, last)

    def step_features(self, net: Net, hidden: Float[Array, "N H"], x: Float[Array, "N d"]) -> tuple[Array, Array]:
        """One acting step of a shared network for every agent: new hidden state and features."""
        return jax.vmap(lambda h, xi: net.torso(h, xi, jnp.zeros((), bool)))(hidden, x)

    def next_carry(self, hidden: Array, actions: Int[Array, " N"]) -> tuple[Array, Array]:
        return hidden, jax.nn.one_hot(actions, self.info.num_actions)

    def apply_group(self, params: Any, opt_state: Any, grads: Any) -> tuple[Any, Any]:
        """One optimiser step of one parameter group."""
        updates, opt_state = self.optimizer().update(grads, opt_state, eqx.filter(params, eqx.is_inexact_array))
        return eqx.apply_updates(params, updates), opt_state

    def gradient_step(
        self, params: tuple[Any, ...], opt_state: tuple[Any, ...], target: tuple[Any, ...], batch: Episodes,
        key: PRNGKeyArray, alpha: Float[Array, ""],
    ) -> tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Array]]:
        """One gradient step of `loss` on a sampled batch, every optimiser group at once. (MIPI
        replaces it with its alternation of losses, `algorithms.mipi`.)"""
        grads, metrics = eqx.filter_grad(self.loss, has_aux=True)(params, target, batch, key, alpha)
        for i, g in enumerate(grads):  # before clipping, per optimiser group (diagnostics)
            metrics[f"grad_norm_{i}"] = optax.global_norm(eqx.filter(g, eqx.is_inexact_array))
        new = [self.apply_group(p, s, g) for p, g, s in zip(params, grads, opt_state, strict=True)]
        return tuple(p for p, _ in new), tuple(s for _, s in new), metrics

    def update(
        self, state: OffPolicyState, batch: Trajectory, key: PRNGKeyArray
    ) -> tuple[OffPolicyState, dict[str, Array]]:
        c = self.config
        if c.reward_scale != 1.0:  # the learner's reward only; the runner reports the environment's
            batch = eqx.tree_at(lambda b: b.reward, batch, batch.reward * c.reward_scale)
        replay = self.replay.add(state.replay, batch)
        env_steps = state.env_steps + batch.reward.size
        moments = state.state_moments
        if c.normalize_state:
            moments = moments.update(batch.state.reshape(-1, batch.state.shape[-1]))
        ready = self.replay.can_sample(replay, c.batch_size)
        alpha = self.alpha(env_steps)

        def step(carry: tuple[Any, Any], k: PRNGKeyArray) -> tuple[tuple[Any, Any], dict[str, Array]]:
            params, opt_state = carry
            k_sample, k_loss = jax.random.split(k)
            episodes = self.replay.sample(replay, k_sample, c.batch_size)
            if c.normalize_state:
                episodes = eqx.tree_at(lambda e: e.state, episodes, moments.standardize(episodes.state))
            params, opt_state, metrics = self.gradient_step(params, opt_state, state.target, episodes, k_loss, alpha)
            return (params, opt_state), metrics

        def train(_: None) -> tuple[tuple[Any, Any], dict[str, Array]]:
            return jax.lax.scan(step, (state.params, state.opt_state), jax.random.split(key, c.train_steps))

        def wait(_: None) -> tuple[tuple[Any, Any], dict[str, Array]]:
            shapes = jax.eval_shape(train, None)[1]
            return (state.params, state.opt_state), jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        (params, opt_state), metrics = jax.lax.cond(ready, train, wait, None)
        if c.target_update_unit == "episodes":
            clock = replay.added
        else:  # gradient steps, counted as updates x train_steps
            clock = (env_steps // batch.reward.size * c.train_steps).astype(jnp.int32)
        due = ready & (clock - state.last_target >= c.target_update_interval)
        target = _select(due, params, state.target)
        last_target = jnp.where(due, clock, state.last_target)
        metrics = {k: v.mean() for k, v in metrics.items()}
        metrics.update(
            epsilon=self.epsilon(state), alpha=alpha, replay_episodes=replay.complete.sum().astype(jnp.float32),
            learning=ready.astype(jnp.float32),
        )
        return OffPolicyState(params, target, opt_state, replay, env_steps, last_target, moments), metrics


def masked_greedy(q: Float[Array, "*b A"], avail: Bool[Array, "*b A"]) -> Int[Array, "*b"]:
    return jnp.argmax(fz.mask_logits(q, avail), axis=-1).astype(jnp.int32)
