"""Mutation check of MIPI's property tests: each mutant is a realistic bug (one string
replacement in the code a test checks); the test must fail on it.

    nice -n 10 python benchmarks/mipi_mutants.py            # every mutant -> results/mipi_mutants.md
    nice -n 10 python benchmarks/mipi_mutants.py NAME ...   # some of them (the file keeps the others)

A mutant is applied to the working tree, the named tests run in a subprocess (pytest -x), and the
original file is written back whatever happens. "killed" means pytest reported a failing test
(exit code 1); a mutant that breaks collection or import (exit code 2 or more) is listed as such,
not as killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS  # noqa: E402

PADDED = "tests/test_mipi.py::test_padded_agent_slots_change_no_loss_or_metric"
EQ16 = "tests/test_mipi.py::test_eq16_target_is_the_mi_augmented_soft_bootstrap"
EQ17 = "tests/test_mipi.py::test_eq17_marginal_fits_the_policy_under_the_imagined_composition"
SLOTS = "tests/test_mipi_slots.py"
ATTACK = f"{SLOTS}::test_attack_j_is_scored_from_enemy_j_row"
LAST = f"{SLOTS}::test_the_last_action_is_encoded_without_slots"
LARGER = f"{SLOTS}::test_a_larger_composition_is_evaluated_in_its_own_slots_and_reported"
MUTANTS: dict[str, tuple[str, str, str, list[str]]] = {
    # name: (file, original, mutant, tests that must fail)
    "mixer gives padded slots a weight (no `* live`)": (
        "marlspec/nn/entity.py", "(attended)[:, 0]) * live", "(attended)[:, 0])",
        [PADDED, "tests/test_mipi.py::test_padded_slots_get_no_mixing_weight"]),
    "per-agent loss means ignore agent_mask": (
        "marlspec/algorithms/mipi.py", "steps[..., None] * batch.agent_mask[:, :L].astype(jnp.float32)",
        "steps[..., None] * jnp.ones(batch.agent_mask[:, :L].shape)", [PADDED]),
    "eq. 16 regulariser summed over padded agents too": (
        "marlspec/algorithms/mipi.py", "(reg * live).sum(-1)[1:]", "reg.sum(-1)[1:]", [PADDED, EQ16]),
    "eq. 16 log ratio without the marginal (log pi only)": (
        "marlspec/algorithms/mipi.py", "reg = jax.vmap(jax.vmap(mi.mi_log_ratio))(sg(logits), sg(m_logits), a_next)",
        "reg = fz.log_prob(sg(logits), a_next)", [EQ16]),
    "eq. 16 target without the regulariser (alpha dropped)": (
        "marlspec/algorithms/mipi.py", "c.gamma, c.td_lambda, alpha)", "c.gamma, c.td_lambda, 0.0)", [EQ16]),
    "eq. 18 without the marginal's log term": (
        "marlspec/primitives/mi.py", "alpha * (logp - prior)", "alpha * logp", ["tests/theory/test_mipi_losses.py"]),
    "eq. 17 marginal fitted on the real s- (not the imagined s*)": (
        "marlspec/algorithms/mipi.py", 'self.policy_logits(policy, aux, "imagined")',
        'self.policy_logits(policy, aux, "real")', [EQ17]),
    "eq. 17 imagined view = real view (within mask not applied)": (
        "marlspec/algorithms/mipi.py", 'aux = {**x, "within": within[None] & x["present"],',
        'aux = {**x, "within": x["present"],', [EQ17]),
    "one Blahut-Arimoto iteration whatever ba_iterations says": (
        "marlspec/algorithms/mipi.py", "for _ in range(iterations):", "for _ in range(1):",
        ["tests/test_mipi.py::test_ba_iterations_alternate_marginal_and_policy_steps"]),
    "resume forgets the held-out compositions' results": (
        "marlspec/train/runner.py", "held_out.restore(rundir, spec, updates_done * spu)", "pass",
        ["tests/test_resume.py::test_killed_run_resumes_bit_identical[mipi-checkpoint-6]"]),
    "smax_teams: one padded ally slot counted as present": (
        "marlspec/envs/smax_teams.py", "agent_mask=jnp.arange(self.slots) < state.allies,",
        "agent_mask=jnp.arange(self.slots) <= state.allies,", ["tests/test_smax_teams.py"]),
    "entity action head scores attacks from the agent's features only": (
        "marlspec/nn/entity.py", "jax.vmap(self.target)(rows[jnp.asarray(attack_rows)])",
        "jax.vmap(self.target)(jnp.zeros_like(rows[jnp.asarray(attack_rows)]))", [ATTACK]),
    "entity action head reads the row before the attacked enemy's": (
        "marlspec/nn/entity.py", "rows[jnp.asarray(attack_rows)]", "rows[jnp.asarray(attack_rows) - 1]", [ATTACK]),
    "marginal splits the attack over every enemy slot, not the available attacks": (
        "marlspec/algorithms/mipi.py", "attacks = avail[..., m:]", "attacks = jnp.ones_like(avail[..., m:])",
        [f"{SLOTS}::test_absent_slots_change_no_output_of_a_present_action",
         f"{SLOTS}::test_the_marginal_splits_one_attack_probability_over_the_available_attacks"]),
    "marginal gives every available attack the whole attack logit (no split)": (
        "marlspec/algorithms/mipi.py", "share = out[..., m:] - jnp.log(", "share = out[..., m:] + 0 * jnp.log(",
        [f"{SLOTS}::test_the_marginal_splits_one_attack_probability_over_the_available_attacks"]),
    "\"was my target\" bit on the row before the attacked enemy's": (
        "marlspec/algorithms/mipi.py", ".at[..., targets].set(attacks)", ".at[..., targets - 1].set(attacks)", [LAST]),
    "last action loses its attacked bit": (
        "marlspec/algorithms/mipi.py", "onehot[..., :m], attacks.sum(-1, keepdims=True)",
        "onehot[..., :m], 0 * attacks.sum(-1, keepdims=True)", [LAST]),
    "a larger held-out composition acts with the training slots' algorithm": (
        "marlspec/train/runner.py", "experiment.algorithm if e.env.info == experiment.env.info else e.algorithm",
        "experiment.algorithm", [LARGER]),
    "compositions keep the training slots with slot-independent networks": (
        "marlspec/spec/envs.py", 'return {"slots": None} if slot_independent else',
        'return {"slots": self.resolved_slots} if slot_independent else', [LARGER]),
}
OUT = RESULTS / "mipi_mutants.json"


def run_one(name: str) -> dict[str, object]:
    file, old, new, tests = MUTANTS[name]
    path = ROOT / file
    original = path.read_text()
    assert original.count(old) == 1, f"{name}: the original text must occur once in {file}"
    t0 = time.time()
    try:
        path.write_text(original.replace(old, new))
        env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests],
                              cwd=ROOT, capture_output=True, text=True, env=env)
    finally:
        path.write_text(original)
    status = {0: "SURVIVED", 1: "killed"}.get(proc.returncode, f"error (pytest exit {proc.returncode})")
    failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
    print(f"{status:10s} {name} ({time.time() - t0:.0f} s) {failed}", flush=True)
    return {"file": file, "original": old, "mutant": new, "tests": tests, "status": status, "failed": failed}


def main() -> None:
    names = sys.argv[1:] or list(MUTANTS)
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in names:
        results[name] = run_one(name)
        OUT.write_text(json.dumps(results, indent=1))
    lines = ["# mipi_mutants", "",
             "Each mutant is a realistic bug in MIPI's code; the listed tests must fail on it. Regenerate with",
             "`nice -n 10 python benchmarks/mipi_mutants.py` (written by that script).", "",
             "| mutant | file | tests | result |", "|---|---|---|---|"]
    for name in MUTANTS:
        if name in results:
            r = results[name]
            tests = ", ".join(t.replace("tests/", "").replace("::test_", "::") for t in r["tests"])
            lines.append(f"| {name} | `{r['file']}` | {tests} | {r['status']} |")
    killed = sum(results[n]["status"] == "killed" for n in MUTANTS if n in results)
    lines += ["", f"{killed} of {sum(n in results for n in MUTANTS)} mutants killed."]
    (RESULTS / "mipi_mutants.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
