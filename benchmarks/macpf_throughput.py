"""Throughput of the off-policy family on SMAX, and the cost of MACPF's sequential
dependency sampling.

    python benchmarks/macpf_throughput.py     # writes results/macpf_throughput.{json,md}

1. Training env-steps/s of MACPF and QMIX on SMAX 3m (specs/macpf_smac.yaml and
   specs/qmix_smax_3m.yaml, 8
   environments x 100 steps per update, one gradient step on 32 episodes), compile
   time excluded, beside the env-only steps/s of random actions at the same number
   of environments in the same process.
2. Acting cost of MACPF's behaviour policy (agent-by-agent sampling, appendix F of
   the paper) against its execution policy (independent sampling) on 3m, 8m and 25m:
   one jitted `act` over 64 environments.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import env_only_sps, timed, write  # noqa: E402
from marlspec.compile import compile as compile_spec  # noqa: E402
from marlspec.envs.wrappers import AutoReset  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402
from marlspec.train.runner import compile_ahead, init_states  # noqa: E402

SPEC = ROOT / "specs" / "macpf_smac.yaml"
UPDATES = 3


def training_sps(kind: str) -> dict:
    path = ROOT / "specs" / ("qmix_smax_3m.yaml" if kind == "qmix" else "macpf_smac.yaml")
    spec = load_spec(path, [f"algorithm.kind={kind}", "train.seeds=[0]"])
    exp = compile_spec(spec)
    rs = init_states(exp, [0])
    chunk, compile_s = compile_ahead(eqx.filter_vmap(functools.partial(exp.train_chunk, num_updates=UPDATES)), rs)
    # Fill the replay past batch_size first, so that the timed updates include gradient steps.
    while True:
        rs, metrics = chunk(rs)
        if float(metrics["learning"][0, -1]) > 0:
            break
    t0 = time.perf_counter()
    rs, metrics = chunk(rs)
    jax.block_until_ready(rs)
    seconds = time.perf_counter() - t0
    assert float(metrics["learning"].min()) > 0
    return {"algorithm": kind, "map": spec.env.map, "num_envs": spec.train.num_envs,
            "train env steps/s": UPDATES * exp.steps_per_update / seconds,
            "env-only steps/s": env_only_sps(AutoReset(exp.env, spec.train.num_envs), exp.env.info,
                                          spec.train.rollout_length, repeats=2),
            "compile s": compile_s}


def acting_cost(map_name: str, envs: int = 64) -> dict:
    # A one-step episode limit keeps the (unused) replay tiny; acting does not depend on it.
    spec = load_spec(SPEC, [f"env.map={map_name}", "env.max_steps=1", "train.seeds=[0]", "algorithm.buffer_size=32",
                            "train.num_envs=1"])
    exp = compile_spec(spec)
    algo = exp.algorithm
    learner = algo.init(jax.random.PRNGKey(0))
    _, ts = jax.vmap(exp.env.reset)(jax.random.split(jax.random.PRNGKey(1), envs))
    carry = jax.tree.map(lambda c: jnp.broadcast_to(c, (envs, *c.shape)), algo.initial_carry())
    keys = jax.random.split(jax.random.PRNGKey(2), envs)
    out = {"map": map_name, "agents": algo.info.num_agents}
    for mode in ("execution", "behaviour"):
        act = jax.jit(jax.vmap(lambda t, c, k, mode=mode: algo.act(learner, t, c, k, mode)))
        jax.block_until_ready(act(ts, carry, keys))
        out[f"{mode} act ms"] = 1000 * timed(lambda act=act: act(ts, carry, keys), repeats=5)
    out["behaviour / execution"] = out["behaviour act ms"] / out["execution act ms"]
    return out


def main() -> None:
    train = [training_sps(kind) for kind in ("macpf", "qmix")]
    for row in train:
        print(row, flush=True)
    acting = [acting_cost(m) for m in ("3m", "8m", "25m")]
    for row in acting:
        print(row, flush=True)
    notes = ("Training: one seed, 8 SMAX environments x 100 steps per update, then one gradient step on a batch of"
             " 32 whole episodes (specs/macpf_smac.yaml), best of one timed chunk of "
             f"{UPDATES} updates after the replay filled. Acting: one jitted call of `act` for 64 environments"
             " (the dependent behaviour policy samples agent by agent: N + 1 passes of the correction network)."
             " The machine is shared: other jobs' load inflates the times, so compare rows of one run.")
    write("macpf_throughput", {"training": train, "acting": acting}, train, notes)
    from benchmarks._common import RESULTS

    md = RESULTS / "macpf_throughput.md"
    cols = list(acting[0])
    lines = ["", "## Acting cost of the dependent (sequential) policy", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |" for r in acting]
    md.write_text(md.read_text() + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
