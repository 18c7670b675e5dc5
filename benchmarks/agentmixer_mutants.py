"""Mutation check of AgentMixer's property tests: each realistic bug below is patched into the
source, the test that claims to catch it is run unchanged, and the source is restored.

    nice -n 10 python benchmarks/agentmixer_mutants.py        # writes results/agentmixer_mutants.{md,json}

A mutant is *killed* when its test fails on an assertion, *survives* when the test passes, and
*crashes* when the test errors for another reason (a crash is not evidence that the check works).
The file is restored after every mutant, also when the run is interrupted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write  # noqa: E402

T = "tests/test_agentmixer.py::"


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    path: str
    old: str
    new: str
    test: str


MUTANTS = (
    Mutant("copula_variance", "z_i = rho Q xi + e_i: the sqrt(1 - rho^2) factor dropped, so Var z_i = 1 + rho^2",
           "marlspec/primitives/igc.py", "jnp.sqrt(1.0 - rho**2) * own", "own",
           "test_discrete_igc_keeps_each_agents_mode_for_any_modifier_output"),
    Mutant("copula_not_orthogonal", "Q_i = I - K_i instead of the Cayley transform (not orthogonal)",
           "marlspec/primitives/igc.py", "q = jnp.linalg.solve(eye + skew, eye - skew)", "q = eye - skew",
           "test_discrete_igc_keeps_each_agents_mode_for_any_modifier_output"),
    Mutant("copula_logistic", "u = sigmoid(z) instead of the normal CDF Phi(z)",
           "marlspec/primitives/igc.py", "-jax.scipy.special.log_ndtr(z)", "-jax.nn.log_sigmoid(z)",
           "test_discrete_igc_keeps_each_agents_mode_for_any_modifier_output"),
    Mutant("copula_rho_unsquared", "sqrt(1 - abs(rho)) instead of sqrt(1 - rho^2)",
           "marlspec/primitives/igc.py", "jnp.sqrt(1.0 - rho**2)", "jnp.sqrt(1.0 - jnp.abs(rho))",
           "test_discrete_igc_keeps_each_agents_mode_for_any_modifier_output"),
    Mutant("head_shifts_logits", "the modifier's output also added to the joint logits",
           "marlspec/algorithms/agentmixer.py", '(individual["logits"] + g) / tau',
           '(individual["logits"] + g + out[:, 1:a + 1]) / tau',
           "test_discrete_igc_keeps_each_agents_mode_for_any_modifier_output"),
    Mutant("continuous_mean_moves", "the joint mean moved by the modifier's scale head",
           "marlspec/algorithms/agentmixer.py", '        mean = individual["mean"]\n',
           '        mean = individual["mean"] + 0.1 * scale\n',
           "test_continuous_igc_joint_mean_is_the_individual_mean"),
    Mutant("agent_mixing_reshaped", "agent mixing applied to a reshape instead of the transpose",
           "marlspec/nn/policy_modifier.py", "jax.vmap(self.agent_mlp, in_axes=1, out_axes=1)(normed)",
           "jax.vmap(self.agent_mlp)(normed.reshape(normed.shape[1], -1)).reshape(normed.shape)",
           "test_policy_modifier_shapes_and_agent_equivariance"),
    Mutant("replay_fresh_noise", "the update replays the joint policy with zero noise, not the stored noise",
           "marlspec/algorithms/agentmixer.py", "(individual, obs, state, noise, avail)",
           "(individual, obs, state, jnp.zeros_like(noise), avail)",
           "test_update_replays_the_behaviour_policy"),
)


def run_one(m: Mutant) -> dict[str, object]:
    path = ROOT / m.path
    original = path.read_text()
    if original.count(m.old) != 1:
        return {"name": m.name, "outcome": f"pattern found {original.count(m.old)} times", "seconds": 0.0}
    t0 = time.time()
    try:
        path.write_text(original.replace(m.old, m.new))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
                               T + m.test], cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        path.write_text(original)
    text = proc.stdout + proc.stderr
    errors = [line[2:].strip() for line in text.splitlines() if line.startswith("E ")]
    if proc.returncode == 0:
        outcome = "survived"
    elif "AssertionError" in text or any(e.startswith("assert") for e in errors):
        outcome = "killed"
    else:
        outcome = "crashed"
    first = next((e for e in errors if e), "")
    return {"name": m.name, "outcome": outcome, "detail": first[:160], "seconds": round(time.time() - t0, 1)}


def main() -> None:
    results = []
    for m in MUTANTS:
        r = run_one(m)
        print(f"{m.name}: {r['outcome']} ({r.get('detail', '')})", flush=True)
        results.append({**r, "bug": m.bug, "file": m.path, "test": m.test})
    rows = [{"mutant": r["name"], "bug": r["bug"], "file": r["file"], "test": r["test"], "outcome": r["outcome"]}
            for r in results]
    killed = sum(r["outcome"] == "killed" for r in results)
    write("agentmixer_mutants", {"mutants": results}, rows,
          f"{killed} of {len(results)} mutants killed by the unchanged test named beside each (tests/test_agentmixer.py);"
          " a crash or a survivor would mean the test does not check what its name says. Regenerate:"
          " `nice -n 10 python benchmarks/agentmixer_mutants.py`.")
    if killed != len(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
