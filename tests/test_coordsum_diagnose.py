"""benchmarks/coordsum_diagnose.py measures how far a guider/teacher is from a product
policy. Checked on MAGPO section 3's three-agent sum game, where the answer is known."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.coordsum_diagnose import joint_stats, product_hit  # noqa: E402
from marlspec.compile import compile as compile_spec  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402


class SectionThreeTeacher:
    """MAGPO section 3 (C): agent 0 plays 3 or 4 at random, agent 1 plays 3, agent 2 plays
    7 - a_0, so the sum is always 10. Speaks the joint-policy methods `joint_stats` calls."""

    def conditional_logits(self, x, actions, avail, order):  # noqa: ANN001, ANN201
        def row(*allowed: jax.Array) -> jax.Array:
            hot = sum(jax.nn.one_hot(a, 10) for a in allowed)
            return jnp.where(hot > 0, 0.0, -jnp.inf)

        logits = jnp.stack([row(jnp.array(3), jnp.array(4)), row(jnp.array(3)), row(7 - actions[0])])
        return logits, jnp.zeros(3)

    def sample(self, key, x, avail, order):  # noqa: ANN001, ANN201
        first = jnp.where(jax.random.bernoulli(key), 4, 3)
        actions = jnp.array([first, 3, 7 - first])
        return actions, jnp.array([jnp.log(0.5), 0.0, 0.0]), jnp.zeros(3)


def test_product_hit_matches_enumeration() -> None:
    marginals = jax.random.dirichlet(jax.random.PRNGKey(0), jnp.ones(4), (3,))
    m = np.asarray(marginals, dtype=float)
    for target in (0, 4, 9, 12):
        brute = sum(m[0, a] * m[1, b] * m[2, c] for a, b, c in itertools.product(range(4), repeat=3) if a + b + c == target)
        assert abs(float(product_hit(marginals, jnp.array(target))) - brute) < 1e-6


def test_section_three_teacher_is_not_a_product() -> None:
    ts = SimpleNamespace(obs=jnp.zeros((3, 4)), state=jnp.zeros(2), avail_actions=jnp.ones((3, 10), bool))
    config = compile_spec(load_spec(Path(__file__).resolve().parents[1] / "specs" / "magpo_coordsum.yaml")).algorithm.config  # a MATConfig
    stats = jax.jit(lambda k: joint_stats(SectionThreeTeacher(), config, ts, jnp.array(10), k, 512))(
        jax.random.PRNGKey(0))
    assert float(stats["hit_guider"]) == 1.0
    # Independent copies of the teacher's marginals hit 10 half of the time (the paper's 50%),
    # and the teacher carries log 2 nats of correlation between agents 0 and 2.
    assert abs(float(stats["hit_product"]) - 0.5) < 0.02
    assert abs(float(stats["total_correlation"]) - np.log(2)) < 0.02
    assert abs(float(stats["agent0_entropy"]) - np.log(2)) < 1e-5
