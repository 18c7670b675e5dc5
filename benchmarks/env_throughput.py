"""Issue 3 benchmark: random-action throughput of every environment kind behind the
marlspec protocol, beside the raw library stepped directly in the same process.

For each kind and 1, 64 and 1024 environments it times a jitted `lax.scan` of
`STEPS` steps (compile excluded; best of 5 rounds in which the programs take turns):

- `ours`: `AutoReset(adapter, E)`, random legal actions from `TimeStep.avail_actions`.
- `raw`: the library's own batched step with its own auto-reset, random legal actions
  from the library's own masks: JaxMARL's `step` (SMAX, MPE: a full reset computed and
  selected every step), Jumanji's `VmapWrapper(AutoResetWrapper(env))`, Brax's
  auto-reset (MABrax through `step_env`). Built-in JAX environments have no library;
  there `raw` is the env's step plus a reset selected every step (JaxMARL's scheme).
- `raw, no reset` (1024 envs only): the library's step alone, to show what stepping
  costs before any reset or observation building.

PettingZoo runs on the host: `ours` is `HostAutoReset` over `PettingZooEnv`, `raw` a
plain loop over `parallel_env.step` with resets.

    python benchmarks/env_throughput.py              # everything (several minutes)
    python benchmarks/env_throughput.py smax lbf     # some kinds

Writes benchmarks/results/env_throughput.json and .md.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import RESULTS, timed, write  # noqa: E402

SIZES = (1, 64, 1024)
STEPS = 100

KINDS: dict[str, dict[str, Any]] = {
    "matrix": {"kind": "matrix", "game": "penalty", "episode_length": 10},
    "coordsum": {"kind": "coordsum", "task": "3x10-30"},
    "mpe": {"kind": "mpe", "scenario": "simple_spread"},
    "smax": {"kind": "smax", "map": "3m"},
    "lbf": {"kind": "lbf", "task": "15x15-3p-5f"},
    "rware": {"kind": "rware", "task": "tiny-2ag"},
    "connector": {"kind": "connector", "task": "con-5x5x3a"},
    "mabrax": {"kind": "mabrax", "scenario": "ant_4x2"},
    "predator_prey": {"kind": "predator_prey"},
    "pettingzoo": {"kind": "pettingzoo", "env": "mpe2.simple_spread_v3:parallel_env",
                   "kwargs": {"N": 3, "max_cycles": 25}},
}
STEPS_FOR = {"mabrax": 50, "pettingzoo": 25}
"""Fewer steps where one step is slow (the scan is still one compiled program)."""


def _legal(key: jax.Array, avail: jax.Array) -> jax.Array:
    """Uniformly random legal actions from [E, N, A] boolean masks."""
    return jax.random.categorical(key, jnp.where(avail, 0.0, -jnp.inf), axis=-1).astype(jnp.int32)


def _scan(reset: Callable, step: Callable, steps: int) -> Callable:
    """jit(key -> sum of rewards) over `steps` calls of step(key, carry) -> (carry, reward)."""

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        k0, k1 = jax.random.split(key)
        carry = reset(k0)
        _, rewards = jax.lax.scan(lambda c, k: step(k, c), carry, jax.random.split(k1, steps))
        return rewards.sum()

    return run


REPEATS = 5


def _measure(*programs: Callable) -> list[float]:
    """Best wall time of each program over REPEATS rounds. The programs take turns, so a
    change in the machine's background load hits them alike."""
    for program in programs:
        jax.block_until_ready(program(jax.random.PRNGKey(0)))  # compile
    best = [float("inf")] * len(programs)
    for r in range(REPEATS):
        for i, program in enumerate(programs):
            key = jax.random.PRNGKey(r + 1)
            best[i] = min(best[i], timed(lambda p=program, k=key: p(k), repeats=1))
    return best


# ------------------------------------------------------------------------ ours


def ours(env: Any, e: int, steps: int) -> Callable:
    from marlspec.envs.base import random_actions
    from marlspec.envs.wrappers import AutoReset

    batch = AutoReset(env, e)

    def step(key: jax.Array, carry: Any) -> Any:
        state, ts = carry
        k1, k2 = jax.random.split(key)
        acts = jax.vmap(lambda k, av: random_actions(k, env.info, av))(jax.random.split(k1, e), ts.avail_actions)
        state, ts = batch.step(k2, state, acts)
        return (state, ts), ts.reward.sum()

    return _scan(batch.reset, step, steps)


# ------------------------------------------------------------------------- raw


def raw_jaxmarl(env: Any, e: int, steps: int, reset_each_step: bool, smax: bool) -> Callable:
    """JaxMARL's own batched step (`step` resets every step; `step_env` never does)."""
    from marlspec.envs._imports import library_code

    raw = env.raw
    agents = raw.agents
    n_act = env.info.num_actions

    def reset(key: jax.Array) -> Any:
        with library_code():
            return jax.vmap(raw.reset)(jax.random.split(key, e))[1]

    def step(key: jax.Array, state: Any) -> Any:
        k1, k2 = jax.random.split(key)
        with library_code():
            if smax:
                masks = jax.vmap(raw.get_avail_actions)(state)
                avail = jnp.stack([masks[a] for a in agents], axis=1).astype(bool)
            else:
                avail = jnp.ones((e, len(agents), n_act), bool)
            acts = _legal(k1, avail)
            fn = raw.step if reset_each_step else raw.step_env
            _, state, rewards, _, _ = jax.vmap(fn)(jax.random.split(k2, e), state,
                                                   {a: acts[:, i] for i, a in enumerate(agents)})
        return state, rewards[agents[0]].sum()

    return _scan(reset, step, steps)


def raw_jumanji(env: Any, e: int, steps: int, reset_each_step: bool) -> Callable:
    """Jumanji's `VmapWrapper(AutoResetWrapper(env))`, or the bare vmapped step."""
    from jumanji.wrappers import AutoResetWrapper, VmapWrapper

    from marlspec.envs._imports import library_code

    lib = VmapWrapper(AutoResetWrapper(env.raw, next_obs_in_extras=True)) if reset_each_step else VmapWrapper(env.raw)

    def reset(key: jax.Array) -> Any:
        with library_code():
            return lib.reset(jax.random.split(key, e))

    def step(key: jax.Array, carry: Any) -> Any:
        state, ts = carry
        with library_code():
            state, ts = lib.step(state, _legal(key, ts.observation.action_mask))
        return (state, ts), ts.reward.sum()

    return _scan(reset, step, steps)


def raw_brax(env: Any, e: int, steps: int, reset_each_step: bool) -> Callable:
    """MABrax's `step_env` on Brax with its own auto-reset (back to the episode's stored
    first state), or without any reset."""
    from marlspec.envs._imports import jaxmarl, library_code

    with library_code():
        lib = jaxmarl().make(env.scenario, episode_length=env.info.max_steps, auto_reset=reset_each_step)
    agents, sizes = lib.agents, env.action_sizes

    def reset(key: jax.Array) -> Any:
        with library_code():
            return jax.vmap(lib.reset)(jax.random.split(key, e))[1]

    def step(key: jax.Array, state: Any) -> Any:
        k1, k2 = jax.random.split(key)
        acts = jax.random.uniform(k1, (e, len(agents), max(sizes)), minval=-1.0, maxval=1.0)
        with library_code():
            _, state, rewards, _, _ = jax.vmap(lib.step_env)(
                jax.random.split(k2, e), state, {a: acts[:, i, : sizes[i]] for i, a in enumerate(agents)})
        return state, rewards["__all__"].sum()

    return _scan(reset, step, steps)


def raw_native(env: Any, e: int, steps: int, reset_each_step: bool) -> Callable:
    """A built-in env's own step, with a reset computed and selected every step
    (JaxMARL's scheme), or without reset."""
    from marlspec.envs.base import random_actions

    def reset(key: jax.Array) -> Any:
        return jax.vmap(env.reset)(jax.random.split(key, e))

    def step(key: jax.Array, carry: Any) -> Any:
        state, ts = carry
        k1, k2, k3 = jax.random.split(key, 3)
        acts = jax.vmap(lambda k, av: random_actions(k, env.info, av))(jax.random.split(k1, e), ts.avail_actions)
        state, ts = jax.vmap(env.step)(jax.random.split(k2, e), state, acts)
        if reset_each_step:
            fresh_state, fresh_ts = reset(k3)
            pick = lambda new, old: jnp.where(ts.done.reshape(ts.done.shape + (1,) * (old.ndim - 1)), new, old)  # noqa: E731
            state = jax.tree.map(pick, fresh_state, state)
            ts = jax.tree.map(pick, fresh_ts, ts)
        return (state, ts), ts.reward.sum()

    return _scan(reset, step, steps)


def raw_program(kind: str, env: Any, e: int, steps: int, reset_each_step: bool = True) -> Callable:
    if kind in ("smax", "mpe"):
        return raw_jaxmarl(env, e, steps, reset_each_step, smax=kind == "smax")
    if kind in ("lbf", "rware", "connector"):
        return raw_jumanji(env, e, steps, reset_each_step)
    if kind == "mabrax":
        return raw_brax(env, e, steps, reset_each_step)
    return raw_native(env, e, steps, reset_each_step)


COLUMNS = ("kind", "preset", "agents", "envs", "steps", "raw", "raw env-steps/s", "ours env-steps/s",
           "ours agent-steps/s", "overhead %", "raw no-reset env-steps/s")

RAW_LABEL = {"smax": "JaxMARL step", "mpe": "JaxMARL step", "lbf": "Jumanji AutoResetWrapper",
             "rware": "Jumanji AutoResetWrapper", "connector": "Jumanji AutoResetWrapper",
             "mabrax": "Brax auto-reset", "pettingzoo": "parallel_env loop"}


# ------------------------------------------------------------------------ host


def host_pair(spec: Any, e: int, steps: int) -> tuple[float, float]:
    """(raw seconds, ours seconds) for `steps` steps of `e` PettingZoo envs on the host."""
    from marlspec.envs.host import HostAutoReset
    from marlspec.envs.pettingzoo import PettingZooEnv
    from marlspec.importing import resolve

    _, factory = resolve(spec.env)
    rng = np.random.default_rng(0)

    envs = [factory(**spec.kwargs) for _ in range(e)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    batch = HostAutoReset(lambda: PettingZooEnv(spec.env, spec.kwargs, spec.max_steps), e)
    batch.reset(jax.random.PRNGKey(0))
    batch.step(jax.random.PRNGKey(0), np.zeros((e, batch.info.num_agents), np.int32))  # warm the converters
    key = jax.random.PRNGKey(1)

    def raw_round() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            for env in envs:
                env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})
                if not env.agents:
                    env.reset(seed=int(rng.integers(2**31 - 1)))
        return time.perf_counter() - t0

    def ours_round() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            ts = batch.step(key, rng.integers(0, batch.info.num_actions, (e, batch.info.num_agents)))
        jax.block_until_ready(ts)
        return time.perf_counter() - t0

    rounds = [(raw_round(), ours_round()) for _ in range(3)]
    return min(r for r, _ in rounds), min(o for _, o in rounds)


# ------------------------------------------------------------------------ main


def main(kinds: list[str]) -> None:
    from pydantic import TypeAdapter

    from marlspec.compile import make_env
    from marlspec.spec import EnvSpec

    rows, results = [], []
    for kind in kinds:
        spec = TypeAdapter(EnvSpec).validate_python(KINDS[kind])
        env = make_env(spec)
        steps = STEPS_FOR.get(kind, STEPS)
        n = env.info.num_agents
        for e in SIZES:
            t_start = time.perf_counter()
            if kind == "pettingzoo":
                raw_s, ours_s = host_pair(spec, e, steps)
                no_reset = None
            else:
                programs = [ours(env, e, steps), raw_program(kind, env, e, steps)]
                if e == 1024:
                    programs.append(raw_program(kind, env, e, steps, reset_each_step=False))
                ours_s, raw_s, *rest = _measure(*programs)
                no_reset = rest[0] if rest else None
            env_steps = e * steps
            row = {
                "kind": kind, "preset": spec.label.split("/", 1)[1], "agents": n, "envs": e, "steps": steps,
                "raw": RAW_LABEL.get(kind, "env step + reset every step"),
                "raw env-steps/s": env_steps / raw_s,
                "ours env-steps/s": env_steps / ours_s,
                "ours agent-steps/s": env_steps * n / ours_s,
                "overhead %": 100.0 * (ours_s - raw_s) / raw_s,
                "raw no-reset env-steps/s": (env_steps / no_reset) if no_reset else None,
            }
            rows.append(row)
            results.append({**row, "raw_seconds": raw_s, "ours_seconds": ours_s, "no_reset_seconds": no_reset,
                            "wall_seconds_with_compiles": time.perf_counter() - t_start})
            print(f"{kind:14s} E={e:5d}  raw {row['raw env-steps/s']:12,.0f}  ours {row['ours env-steps/s']:12,.0f}"
                  f"  overhead {row['overhead %']:+6.1f}%", flush=True)
    notes = (
        "Overhead = (ours time - raw time) / raw time, same process, same number of steps, compile "
        "excluded, best of 5 rounds in which the programs take turns. Negative means the adapter is "
        "faster than the library's own loop (it resets only when some environment in the batch is done, "
        "and then only those if they are few; JaxMARL's `step` and Jumanji's wrapper under `vmap` "
        "compute a reset for every environment on every step).\n"
        "Random legal actions everywhere. See the docstring of benchmarks/env_throughput.py for what `raw` is "
        "per kind, and docs/environments.md for the discussion of these numbers.")
    previous = RESULTS / "env_throughput.json"
    if previous.exists():  # keep the other kinds' rows when only some kinds were run
        old = [r for r in json.loads(previous.read_text())["results"] if r["kind"] not in kinds]
        results = old + results
    order = list(KINDS)
    results.sort(key=lambda r: (order.index(r["kind"]), r["envs"]))
    rows = [{k: r[k] for k in COLUMNS} for r in results]
    write("env_throughput", {"steps": STEPS, "results": results}, rows, notes)


if __name__ == "__main__":
    main(sys.argv[1:] or list(KINDS))
