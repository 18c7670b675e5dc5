"""Return estimators against plain Python reference loops, and jit/vmap/plain agreement."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlspec.primitives.returns import gae, n_step, td_lambda

GAMMA, LAM = 0.9, 0.8


def stream(seed: int, T: int = 12):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=T).astype(np.float32)
    v = rng.normal(size=T).astype(np.float32)
    vn = rng.normal(size=T).astype(np.float32)
    term = rng.random(T) < 0.15
    trunc = (rng.random(T) < 0.15) & ~term
    return r, v, vn, term, trunc


def gae_reference(r, v, vn, term, trunc, gamma, lam):
    adv = np.zeros_like(r)
    nxt = 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (0.0 if term[t] else vn[t]) - v[t]
        nxt = delta + (0.0 if (term[t] or trunc[t]) else gamma * lam * nxt)
        adv[t] = nxt
    return adv


def td_lambda_reference(r, vn, term, trunc, gamma, lam):
    out = np.zeros_like(r)
    g = 0.0
    for t in reversed(range(len(r))):
        boundary = term[t] or trunc[t] or t == len(r) - 1
        cont = 0.0 if term[t] else 1.0
        lt = 0.0 if boundary else lam
        g = r[t] + gamma * cont * ((1 - lt) * vn[t] + lt * g)
        out[t] = g
    return out


def n_step_reference(r, vn, term, trunc, gamma, n):
    T = len(r)
    out = np.zeros_like(r)
    for t in range(T):
        total, disc = 0.0, 1.0
        for k in range(n):
            i = t + k
            total += disc * r[i]
            if k == n - 1 or term[i] or trunc[i] or i == T - 1:
                total += disc * gamma * (0.0 if term[i] else vn[i])
                break
            disc *= gamma
        out[t] = total
    return out


@pytest.mark.parametrize("seed", range(5))
def test_gae_matches_reference_loop(seed):
    r, v, vn, term, trunc = stream(seed)
    adv, targets = gae(*map(jnp.asarray, (r, v, vn, term, trunc)), GAMMA, LAM)
    np.testing.assert_allclose(adv, gae_reference(r, v, vn, term, trunc, GAMMA, LAM), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, np.asarray(adv) + v, rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_td_lambda_matches_reference_loop(seed):
    r, _, vn, term, trunc = stream(seed)
    got = td_lambda(*map(jnp.asarray, (r, vn, term, trunc)), GAMMA, LAM)
    np.testing.assert_allclose(got, td_lambda_reference(r, vn, term, trunc, GAMMA, LAM), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1, 3, 20])
def test_n_step_matches_reference_loop(n):
    r, _, vn, term, trunc = stream(7)
    got = n_step(*map(jnp.asarray, (r, vn, term, trunc)), GAMMA, n)
    np.testing.assert_allclose(got, n_step_reference(r, vn, term, trunc, GAMMA, n), rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    r = jnp.array([1.0, 1.0])
    v = jnp.zeros(2)
    vn = jnp.array([5.0, 5.0])
    cut = jnp.array([True, False])
    no = jnp.array([False, False])
    adv_trunc, _ = gae(r, v, vn, no, cut, 0.5, 1.0)
    adv_term, _ = gae(r, v, vn, cut, no, 0.5, 1.0)
    assert float(adv_trunc[0]) == pytest.approx(1.0 + 0.5 * 5.0)  # bootstraps from the final obs value
    assert float(adv_term[0]) == pytest.approx(1.0)  # true end: no bootstrap


def test_gae_jit_vmap_plain_agree():
    batch = [stream(s) for s in range(4)]
    stacked = [jnp.asarray(np.stack(x)) for x in zip(*batch, strict=True)]
    f = lambda *a: gae(*a, GAMMA, LAM)[0]
    vmapped = jax.vmap(f)(*stacked)
    jitted = jax.jit(jax.vmap(f))(*stacked)
    plain = jnp.stack([f(*map(jnp.asarray, s)) for s in batch])
    np.testing.assert_allclose(vmapped, plain, rtol=1e-6)
    np.testing.assert_allclose(jitted, plain, rtol=1e-5, atol=1e-6)
