"""The one PPO step (`algorithms.onpolicy`): `gradient_epochs` with one optimiser per network
(MAGPO's guider and learner) and `ppo_policy_terms` with a non-PPO surrogate (HAPPO, MAGPO).
Tiny arrays, no environment."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from marlspec.algorithms.onpolicy import gradient_epochs, ppo_policy_terms
from marlspec.primitives import objectives as obj

NUM_ENVS, EPOCHS, MINIBATCHES = 4, 2, 2


def _loss(params, idx, _key):
    """A quadratic on both parts; the part `b` has a gradient 100 times larger than `a`'s."""
    a, b = params
    w = jnp.take(jnp.arange(1.0, NUM_ENVS + 1), idx)
    return (w.sum() * jnp.sum(a**2) + 100.0 * w.sum() * jnp.sum(b**2)), {"w": w.mean()}


def _clipped_sgd() -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1))


def test_one_optimiser_per_part_clips_each_part_on_its_own():
    """With a tuple of optimisers each part moves as it would under its own optimiser alone; a
    single optimiser over both clips their joint norm, which `b`'s large gradient dominates, so
    `a` then moves far less (the last assertion: the two set-ups differ)."""
    params, key = (jnp.ones(3), jnp.ones(2)), jax.random.PRNGKey(0)
    opt = _clipped_sgd()
    states = tuple(opt.init(p) for p in params)
    (a_sep, b_sep), new_states, stats = gradient_epochs(_loss, params, states, (opt, opt), key, NUM_ENVS, EPOCHS,
                                                        MINIBATCHES)
    assert isinstance(new_states, tuple) and len(new_states) == 2 and set(stats) == {"w"}
    a_alone, _, _ = gradient_epochs(lambda a, i, k: _loss((a, params[1]), i, k), params[0], opt.init(params[0]), opt,
                                    key, NUM_ENVS, EPOCHS, MINIBATCHES)
    np.testing.assert_allclose(a_sep, a_alone, rtol=1e-6)
    (a_joint, _), _, _ = gradient_epochs(_loss, params, opt.init(params), opt, key, NUM_ENVS, EPOCHS, MINIBATCHES)
    moved = lambda a: float(jnp.abs(a - params[0]).max())
    assert moved(a_joint) < 0.1 * moved(a_sep)


def test_surrogate_receives_the_normalised_advantages():
    """`surrogate` gets the advantages after the minibatch normalisation: the identity surrogate
    then has masked mean 0; the diagnostics stay those of the given ratio."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    logp, old = jax.random.normal(k1, (5, 3)) * 0.1, jax.random.normal(k2, (5, 3)) * 0.1
    adv, ent, mask = 3.0 + jax.random.normal(k3, (5, 3)), jnp.ones((5, 3)), jnp.ones((5, 3)).at[0].set(0.0)
    hooked = ppo_policy_terms(logp, old, adv, ent, mask, 0.2, True, lambda a: a)
    assert abs(float(hooked["policy_loss"])) < 1e-5
    raw = ppo_policy_terms(logp, old, adv, ent, mask, 0.2, False, lambda a: a)
    assert float(raw["policy_loss"]) > 1.0  # without normalisation the mean advantage (about 3) shows
    plain = ppo_policy_terms(logp, old, adv, ent, mask, 0.2, True)
    happo = ppo_policy_terms(logp, old, adv, ent, mask, 0.2, True,
                             lambda a: obj.happo_clip(logp, old, a, jnp.ones_like(a), 0.2))
    for k in plain:  # HAPPO's clip with M = 1 is PPO's clip
        np.testing.assert_allclose(happo[k], plain[k], rtol=1e-6)
