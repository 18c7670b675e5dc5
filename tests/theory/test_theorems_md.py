"""The numbers printed in theory/THEOREMS.md, recomputed from the code.

Each function below recomputes the quantities of one passage of THEOREMS.md with the tabular
references and returns the exact text (numbers formatted as printed) that the catalog must
contain. So a number in the catalog cannot drift from what the code computes: change either and
this test fails, showing the expected text. These are regression checks of the printed values;
the property tests, not these, are the evidence for the claims.

    python -m tests.theory.test_theorems_md      # print every expected passage
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from tests.theory.mutants import THEOREMS
from theory import agentmixer as am
from theory import classics as C
from theory import macpf, mipi
from theory import magpo as M
from theory import tabular as T

pytestmark = pytest.mark.theory

PASSAGES: dict[str, Callable[[], list[str]]] = {}


def passage(fn: Callable[[], list[str]]) -> Callable[[], list[str]]:
    PASSAGES[fn.__name__] = fn
    return fn


def _v(game: T.Game, pi: np.ndarray) -> float:
    return T.value(game, pi)


def _n(x: float, fmt: str) -> str:
    """``x`` formatted as THEOREMS.md prints numbers: a true minus sign, exponents without a leading zero."""
    text = format(x, fmt).replace("e-0", "e-").replace("e+0", "e+")
    return "−" + text[1:] if text.startswith("-") else text


# ---------------------------------------------------------------------------
# Claim 1
# ---------------------------------------------------------------------------


@passage
def claim1_jacobi() -> list[str]:
    from tests.theory.test_magpo import ANTI_COORDINATION

    game = T.matrix_game(ANTI_COORDINATION)
    margs = [np.full((1, 2), 0.5), np.full((1, 2), 0.5)]
    step = M.magpo_step(game, margs, 4.75, method="parallel", sweeps=1)
    m = step.learner_marginals[0][0]
    v0, v1 = _v(game, T.product_policy(margs)), _v(game, step.learner)
    return [f"(marginals {m[0]:.3f}/{m[1]:.3f}), the KL rises {step.kl_before[0]:.3f} → {step.kl_after[0]:.3f}\n"
            f"  and V_ρ falls {v0:.4f} → {v1:.5f}"]


@passage
def claim1_forward_kl() -> list[str]:
    game = T.matrix_game(np.array([[0.0, 0.25], [0.0, 0.25], [1.0, 0.0]]))
    margs = [T.softmax(np.array([[3.0, 3.0, 2.25]])), T.softmax(np.array([[0.0, 2.25]]))]
    step = M.magpo_step(game, margs, 2.0, method="m_projection")
    return [f"V_ρ falls\n  {_v(game, T.product_policy(margs)):.6f} → {_v(game, step.learner):.6f}"]


@passage
def claim1_gradient() -> list[str]:
    game = T.matrix_game(np.array([[0.0, 0.0, -0.5], [0.0, -0.75, 0.0]]))
    margs = [np.full((1, 2), 0.5), T.softmax(np.array([[0.0, 1.5, 1.5]]))]
    step = M.magpo_step(game, margs, 5.25, method="gradient", lr=5.0, steps=1)
    return [f"KL {step.kl_before[0]:.3f} → {step.kl_after[0]:.3f}, V_ρ\n  {_n(_v(game, T.product_policy(margs)), '.5f')} → "
            f"{_n(_v(game, step.learner), '.5f')}"]


@passage
def claim1_detour() -> list[str]:
    from tests.theory.test_magpo import _detour_game

    game = _detour_game()
    margs = [np.full((3, 2), 0.5), np.full((3, 2), 0.5)]
    good, _ = M.magpo_run(game, margs, 4.0, 4, method="mean_field", backtrack=True)
    bad, _ = M.magpo_run(game, margs, 4.0, 4, method="mean_field", backtrack=False)
    arrow = " → ".join(f"{x:.3f}" for x in bad[1:])
    return [f"V_ρ {arrow} while the backtracked run rises to {good[-1]:.3f}"]


# ---------------------------------------------------------------------------
# Claim 3
# ---------------------------------------------------------------------------


def _fmt_row(x: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.6f}" for v in row) + "]" for row in x) + "]"


@passage
def claim3_eq26() -> list[str]:
    game = T.matrix_game(np.array([[0.0, 0.0], [0.0, 0.25]]))
    pi = T.uniform_policy(game)
    eq26 = T.chain_policy(M.guider_conditionals(game, pi, 0.25))[0]
    eq18 = M.guider_update(game, pi, 0.25)[0]
    gap = float(np.max(np.abs(eq26 - eq18)))
    return [f"eq. 26 gives {_fmt_row(eq26)}, eq. 18 gives\n{_fmt_row(eq18)} (sup gap {_n(gap, '.2e')})",
            f"gap {_n(gap, '.2e')}, below"]


@passage
def claim3_sequential_kl() -> list[str]:
    from tests.theory.test_magpo import ANTI_COORDINATION

    game = T.matrix_game(ANTI_COORDINATION)
    margs = [T.softmax(np.array([[0.3, 0.0]])), np.full((1, 2), 0.5)]
    pi = T.product_policy(margs)
    guider = M.guider_update(game, pi, 4.0)
    seq = M.sequential_update(game, pi, 4.0)
    proj = M.mean_field_projection(guider, margs, sweeps=200, tol=1e-14)
    kl_seq = float(T.joint_kl(T.product_policy(seq), guider)[0])
    kl_proj = float(T.joint_kl(T.product_policy(proj), guider)[0])
    return [f"KL(·‖μ̂) {kl_seq:.4f} against the projection's {kl_proj:.4f}"]


# ---------------------------------------------------------------------------
# Claim 5
# ---------------------------------------------------------------------------


@passage
def claim5_soft() -> list[str]:
    game = T.matrix_game(np.eye(2))
    v_star = float(macpf.soft_q_iteration(game, 1.0)[0][0])
    assert abs(v_star - math.log(2 * math.e + 2)) < 1e-12
    best = 0.5 + 2 * math.log(2)
    return [f"soft value of the soft-optimal dependent policy {v_star:.4f}, best independent {best:.4f}",
            f"V*_soft = log(2e + 2) = {v_star:.5f}", f"best\nindependent soft value is ½ + 2 log 2 = {best:.5f}"]


# ---------------------------------------------------------------------------
# Claim 7
# ---------------------------------------------------------------------------


@passage
def claim7_eq7() -> list[str]:
    from tests.theory.test_mipi import _eq7_counterexample_problem

    dg, plus, prior, start = _eq7_counterexample_problem()
    res = mipi.mi_policy_iteration(dg, start, plus, prior, 1.0, n_iter=1, weighted=False)
    drop = res.qs[1] - res.qs[0]
    assert np.allclose(drop, drop.flat[0], atol=1e-12)
    full = mipi.mi_policy_iteration(dg, start, plus, prior, 1.0, n_iter=200, weighted=False)
    v_star, _ = mipi.mi_optimal(dg.game(), plus, prior, 1.0)
    good = mipi.mi_policy_iteration(dg, start, plus, prior, 1.0, n_iter=200, weighted=True)
    assert np.allclose(good.vs[-1], v_star, atol=1e-8) and np.allclose(full.vs[-1], res.vs[1], atol=1e-9)
    v0, v1 = res.vs[0], res.vs[1]
    return [f"Q_jt falls by {_n(-drop.flat[0], '.2e')} everywhere",
            f"Q_jt by {_n(-drop.flat[0], '.2e')} in every (s, u) and V\nfrom ({v0[0]:.5f}, {v0[1]:.5f}) to "
            f"({v1[0]:.5f}, {v1[1]:.5f}); the iteration stays there, below\nthe optimum V* = "
            f"({v_star[0]:.5f}, {v_star[1]:.5f})"]


# ---------------------------------------------------------------------------
# Claim 8
# ---------------------------------------------------------------------------


@passage
def claim8_rate() -> list[str]:
    res = mipi.ba_rate_experiment(seed=0, n_instances=400, n_iter=1000)
    env = res["envelope"]
    ms = (1, 2, 5, 10, 30, 100, 300, 1000)

    def g(x: float) -> str:
        return f"{x:.3g}" if x >= 1e-2 else _n(x, ".1e")

    row1 = "| worst g(M) | " + " | ".join(g(env[m]) for m in ms) + " |"
    row2 = "| M · worst g(M) | " + " | ".join(f"{m * env[m]:.3f}" for m in ms) + " |"
    return [
        row1, row2,
        f"p = {res['exponent_early']:.2f}, C = {res['constant_early']:.2f} on M ≤ 30;\n"
        f"p = {res['exponent_all']:.2f} over M ≤ 1000",
        f"median per-instance exponent {res['median_instance_exponent']:.1f}",
        f"max M·gap/(α KL) = {res['max_m_times_gap']:.2f} < 1",
    ]


# ---------------------------------------------------------------------------
# Claims 9 and 10
# ---------------------------------------------------------------------------


@passage
def claim9_fixed_head() -> list[str]:
    logits, heads, c = np.array([0.0, 0.5]), np.array([0.0, -1.0]), 0.9
    g = am.gumbel_from_head(heads, c)
    z = logits + g
    return [f"g = [{_n(g[0], '.4f')}, {_n(g[1], '.4f')}], l + g = [{_n(z[0], '.4f')}, {_n(z[1], '.4f')}]"]


@passage
def claim9_sampling() -> list[str]:
    logits = np.array([1.0, 0.0, -0.5])
    p = am.sampled_choice_probs(logits, 0.5)
    s = T.softmax(logits)
    return [f"c = ½: [{p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}] against softmax [{s[0]:.3f}, {s[1]:.3f}, {s[2]:.3f}]"]


@passage
def claim10_counterexample() -> list[str]:
    from tests.theory.test_agentmixer import THM2_COUNTEREXAMPLE as game

    res = am.train_agentmixer(game, steps=600)
    v = float(np.sum(game.rho[:, None, None] * res.joint * game.reward))
    first = float(np.max(np.abs(res.logits[0])))  # the 2-action agent
    eps_soft, eps_mode = am.ce_gap(game, res.product_soft)[0], am.ce_gap(game, res.product_mode)[0]
    return [f"the joint attains the full-information optimum {v:.4f} with CE\ngap 0",
            f"the first agent's individual logits\nstay at ±{first:.3f}",
            f"ε = {eps_soft:.3f} (individual stochastic policies) and ε = {eps_mode:.4f} (individual modes)",
            f"yet ε = {eps_soft:.3f} (stochastic product) and {eps_mode:.4f} (product of modes) with Δ = {game.payoff_range:g}"]


@passage
def claim10_worse_than_uniform() -> list[str]:
    from tests.theory.test_agentmixer import THM2_WORSE_THAN_UNIFORM as game

    res = am.train_agentmixer(game, steps=250)
    uniform = am.product_from_individual(game, [np.full((1, 2), 0.5), np.full((1, 2), 0.5)])
    eps, eps_u = am.ce_gap(game, res.product_soft)[0], am.ce_gap(game, uniform)[0]
    return [f"the trained product has ε = {eps:.4f} against {eps_u:.4f} for the uniform product"]


# ---------------------------------------------------------------------------
# Claims 12 and 13
# ---------------------------------------------------------------------------


@passage
def claim12_finding() -> list[str]:
    game = T.matrix_game(np.array([[-0.25, 0.5], [0.5, 0.25]]))
    margs = [np.array([[0.3208213, 0.6791787]])] * 2
    pi = T.product_policy(margs)
    mu = T.chain_policy(M.delta_guider(game, pi, 0.25, 1.05))
    new = T.product_policy(M.mean_field_projection(mu, margs, sweeps=50, tol=1e-13))
    v0, v1 = _v(game, pi), _v(game, new)
    return [f"lowers V from {v0:.7f} to {v1:.7f}. The drop is small ({_n(v0 - v1, '.1e')}) but"]


@passage
def claim12_forward_kl() -> list[str]:
    game = T.matrix_game(np.array([[0.0, 0.0, 0.0], [0.0, 0.25, 0.0], [0.75, 0.0, 0.0]]))
    margs = [T.softmax(np.array([[0.0, 2.25, 0.0]])), T.softmax(np.array([[0.75, 3.0, 0.0]]))]
    pi = T.product_policy(margs)
    mu = T.chain_policy(M.delta_guider(game, pi, 6.25, 10.0))
    return [f"(V {_v(game, pi):.5f} → {_v(game, T.m_projection(mu)):.5f})"]


IGO_ALPHAS = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)


@passage
def claim13_table() -> list[str]:
    rows = []
    for k in (-100, -10, 0):
        r = C.penalty_game(float(k))
        gaps = [C.soft_optimal_value(r, a) - C.best_product_soft(r, a)[1] for a in IGO_ALPHAS]
        rows.append(f"| k = {_n(k, 'd')} | " + " | ".join(f"{g:.6f}" for g in gaps) + " |")
        if k == -100:
            last = gaps[-1]
    return [*rows, f"(k = −100 still loses {last:.1f} at α = 100)"]


@passage
def claim13_m_projection() -> list[str]:
    r = C.penalty_game(-100.0)
    _, wrong = C.best_product_soft(r, 1.0, method="m_projection")
    _, right = C.best_product_soft(r, 1.0)
    return [f"(k = −100, α = 1: value\n{_n(wrong, '.2f')} against {right:.4f})"]


# ---------------------------------------------------------------------------
# Primitive cross-checks
# ---------------------------------------------------------------------------


@passage
def primitives_fop_offset() -> list[str]:
    qs, alpha, alphas = [np.array([1.0, 0.0, 0.0]), np.zeros(3), np.zeros(3)], 1.0, [0.5, 1.0, 1.0]

    def lse(x: np.ndarray, t: float) -> float:
        return float(t * np.log(np.sum(np.exp(x / t))))

    # FOP's code (mixers.fop_igo): V_i = alpha lse(Q_i / alpha) with the common alpha; eq. 2: alpha_i lse(Q_i / alpha_i)
    fop = sum((alpha / a) * (q[0] - lse(q, alpha)) for q, a in zip(qs, alphas, strict=True))
    eq2 = float(macpf.fop_eq2_rhs([q[None] for q in qs], np.zeros(1), alpha, alphas)[0, 0, 0, 0])
    want = 2 * (math.log(math.e + 2) - 0.5 * math.log(math.e**2 + 2))
    assert abs((eq2 - fop) - want) < 1e-12
    return [f"eq. 2 is higher\n  by {eq2 - fop:.4f} on every joint action"]


@passage
def primitives_box_boundary() -> list[str]:
    import jax.numpy as jnp

    from marlspec.primitives import gpo

    rng, delta, on, total = np.random.default_rng(0), 1.5, 0, 0
    log_mu, log_pi = [], []
    for _ in range(200):
        game = T.random_game(rng, 3, 3, 2, 0.9)
        margs = [T.softmax(rng.normal(size=(2, 3)), axis=-1) for _ in range(3)]
        for j, c in enumerate(M.delta_guider(game, T.product_policy(margs), 1.0, delta)):
            prior = np.broadcast_to(margs[j].reshape((2,) + (1,) * j + (3,)), c.shape)
            edge = np.abs(np.abs(np.log(c) - np.log(prior)) - math.log(delta)) < 1e-9
            on, total = on + int(edge.sum()), total + edge.size
            log_mu.append(np.log(c)[edge])
            log_pi.append(np.log(prior)[edge])
    mask = gpo.guider_kl_mask(jnp.asarray(np.concatenate(log_mu), jnp.float32),
                              jnp.asarray(np.concatenate(log_pi), jnp.float32), delta)
    return [f"in 200 random 3-agent, 3-action, 2-state games (seed 0, η = 1, δ = 1.5) {on / total:.0%} of its\n"
            f"  conditional ratios were exactly δ or 1/δ",
            f"mask 1 is decided by rounding: {float(np.mean(np.asarray(mask))):.0%} did"]


def expected_passages() -> dict[str, list[str]]:
    return {name: fn() for name, fn in PASSAGES.items()}


def _squash(text: str) -> str:
    """Line breaks and runs of spaces are layout in Markdown: compare with them collapsed."""
    return " ".join(text.split())


@pytest.mark.parametrize("name", list(PASSAGES))
def test_theorems_md_prints_what_the_code_computes(name):
    doc = _squash(THEOREMS.read_text())
    missing = [t for t in PASSAGES[name]() if _squash(t) not in doc]
    assert not missing, f"theory/THEOREMS.md should contain (passage {name}):\n" + "\n".join(missing)


if __name__ == "__main__":
    for name, texts in expected_passages().items():
        print(f"## {name}")
        for t in texts:
            print(t)
        print()
