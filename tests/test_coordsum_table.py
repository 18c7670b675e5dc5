"""benchmarks/coordsum_table.py: how it groups a task's run directories into figures, and the
hand-written reference policies it reports beside the learned ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.coordsum_table import figure_groups  # noqa: E402


def test_runs_split_into_algorithms_variants_and_ablation_arms() -> None:
    configs = {tag: {"tag": tag} for tag in
               ("ctds", "magpo", "mappo", "ctds_vf0.1", "magpo_vf0.1", "mappo_vf0.1", "delta1.1", "lambda0", "qmix_x", "delta3_vf0.1")}
    algorithms, variants, arms = figure_groups(configs)
    assert list(algorithms) == ["ctds", "magpo", "mappo"]
    assert {v: list(g) for v, g in variants.items()} == {"vf0.1": ["ctds_vf0.1", "magpo_vf0.1", "mappo_vf0.1"]}
    # Tags that do not start with one of the table's algorithms are single-algorithm arms,
    # grouped by the variant they were run under ("" when the suffix names no variant).
    assert {v: list(g) for v, g in arms.items()} == {"": ["delta1.1", "lambda0", "qmix_x"], "vf0.1": ["delta3_vf0.1"]}


def test_scripted_policies_hit_reachable_targets_and_the_student_does_not() -> None:
    import jax
    import jax.numpy as jnp

    from benchmarks.coordsum_table import scripted_actions

    agents, actions = 3, 10
    targets = jnp.arange(30)
    keys = jax.random.split(jax.random.PRNGKey(0), 200)

    def play(policy: str) -> jax.Array:  # [key, target, agent]
        return jax.vmap(lambda k: jax.vmap(lambda t: scripted_actions(policy, k, t, agents, actions))(targets))(keys)

    joint = {p: play(p) for p in ("deterministic", "teacher", "student")}
    reachable = targets <= agents * (actions - 1)
    for p, a in joint.items():
        assert bool(((a >= 0) & (a < actions)).all()), p
    for p in ("deterministic", "teacher"):
        hits = joint[p].sum(-1) == targets
        assert bool((hits == reachable).all()), p
    # The teacher randomizes agent 0 over every action that keeps the target reachable
    # (target 12: 0..9), and the others compensate, so its joint action is not a product.
    assert set(np.unique(joint["teacher"][:, 12, 0]).tolist()) == set(range(10))
    assert set(np.unique(joint["deterministic"][:, 12, 0]).tolist()) == {9}
    # Sampling each agent from its own marginal of that teacher breaks the sum (MAGPO section 3).
    student_hits = (joint["student"].sum(-1) == targets).mean(0)
    assert float(student_hits[12]) < 0.3 and float(student_hits[0]) == 1.0


def test_scripted_returns_show_the_guesser_rule_and_the_distillation_loss() -> None:
    from benchmarks.coordsum_table import scripted_return

    ret = {(p, q): scripted_return("3x10-30", p, q, episodes=16)
           for p, q in (("deterministic", False), ("deterministic", True), ("teacher", False), ("student", False))}
    # A predictable agent 0 is matched more often when all targets >= 9 share one record.
    assert ret["deterministic", True] < ret["deterministic", False] - 10
    # Randomizing agent 0 with compensation beats it; the product of the teacher's marginals collapses.
    assert ret["teacher", False] > ret["deterministic", False] + 30
    assert ret["student", False] < ret["teacher", False] / 3
