"""The orthogonal init never issues a batched LAPACK QR, even under (nested) vmap.

A batched CPU QR splits its batch over jaxlib's FFI thread pool; two of them side by side
deadlocked the runner's seed-vmapped `init_states` here (marlspec/nn/torso.py)."""

from __future__ import annotations

import jax
import numpy as np
from jax.extend.core import Jaxpr

from marlspec.nn.torso import linear


def _qr_operand_ranks(jaxpr: Jaxpr) -> list[int]:
    ranks = []
    for eqn in jaxpr.eqns:
        if "qr" in eqn.primitive.name or "householder" in eqn.primitive.name:
            ranks.append(eqn.invars[0].aval.ndim)
        for sub in jax.core.jaxprs_in_params(eqn.params):
            ranks += _qr_operand_ranks(sub)
    return ranks


def test_vmapped_init_equals_one_key_at_a_time_and_never_batches_qr() -> None:
    keys = jax.random.split(jax.random.PRNGKey(0), 6).reshape(2, 3, 2)  # seeds x agents
    init = jax.vmap(jax.vmap(lambda k: linear(k, 7, 5).weight))
    weights = np.asarray(jax.jit(init)(keys))
    expected = np.stack([[np.asarray(linear(keys[i, j], 7, 5).weight) for j in range(3)] for i in range(2)])
    np.testing.assert_array_equal(weights, expected)
    np.testing.assert_allclose(weights[1, 2] @ weights[1, 2].T, 2.0 * np.eye(5), atol=1e-5)  # gain sqrt(2)
    ranks = _qr_operand_ranks(jax.make_jaxpr(init)(keys).jaxpr)
    assert ranks and all(r == 2 for r in ranks), ranks


def test_plain_orthogonal_init_would_batch_qr() -> None:
    """The check above can fail: JAX's own initializer under vmap gives a rank-3 QR operand."""
    init = jax.vmap(lambda k: jax.nn.initializers.orthogonal()(k, (5, 7)))
    ranks = _qr_operand_ranks(jax.make_jaxpr(init)(jax.random.split(jax.random.PRNGKey(0), 3)).jaxpr)
    assert any(r == 3 for r in ranks), ranks
