"""nox sessions: the CPU/GPU test matrix, learning tests, theory, lint, types, benchmarks.

    nox -s tests          fast CPU suite (this is CI)
    nox -s slow           learning tests (minutes to tens of minutes on CPU)
    nox -s theory         theorem property tests, thorough Hypothesis profile
    nox -s mutants        every theorem test against its mutants; writes the table in theory/THEOREMS.md
    nox -s lint typecheck
    nox -s docs           the documentation site (guides + API reference), mkdocs --strict, into site/
    nox -s gpu            installs jax[cuda12]; fails clearly without a GPU; runs -m gpu
    nox -s bench          benchmarks; results land in benchmarks/results/
    nox -s tests_min_jax  fast suite on the lowest JAX we declare
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = os.environ.get("MARLSPEC_NOX_PYTHON", "3.11")
MIN_JAX = "0.10.2"
FAST = ["-m", "not slow and not gpu", "-n", "2", "--dist", "loadfile"]
ENV = {"MARLSPEC_JAX_CACHE": os.path.abspath(".jax_cache"), "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def install(session: nox.Session, extras: str = "dev") -> None:
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Fast CPU suite, including the fast Hypothesis profile of the theory tests."""
    install(session, "dev,mabrax")
    session.run("pytest", *FAST, *session.posargs, env={**ENV, "HYPOTHESIS_PROFILE": "ci"})


@nox.session(python=PYTHON)
def tests_min_jax(session: nox.Session) -> None:
    """Fast suite against the lowest JAX version declared in pyproject.toml."""
    install(session, "dev,mabrax")
    session.install(f"jax=={MIN_JAX}", f"jaxlib=={MIN_JAX}")
    session.run("python", "-c", f"import jax; assert jax.__version__ == '{MIN_JAX}', jax.__version__")
    session.run("pytest", *FAST, *session.posargs, env={**ENV, "HYPOTHESIS_PROFILE": "ci"})


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """Learning tests: assert on measured returns over several seeds."""
    install(session, "dev,mabrax")
    session.run("pytest", "-m", "slow", "tests/slow", "-v", *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def theory(session: nox.Session) -> None:
    """Every theorem check with the thorough profile (>= 1,000 examples per claim)."""
    install(session)
    session.run("pytest", "-m", "theory", "tests/theory", "--hypothesis-show-statistics", *session.posargs,
                env={**ENV, "HYPOTHESIS_PROFILE": "thorough"})


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation check of the theorem suite: each realistic bug of tests/theory/mutants.py is patched into
    theory/ and its claim's own property tests run with 1,000 examples; every one must fail. Writes the
    results table into theory/THEOREMS.md ("Mutants"); exits non-zero if a mutant survives."""
    install(session)
    session.run("python", "-m", "tests.theory.mutants", "--write", *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "marlspec", "theory", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml): the guides and the API reference from the docstrings,
    built in strict mode (a warning fails it) into site/."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    install(session)
    session.run("mypy", "marlspec")


@nox.session(python=PYTHON)
def gpu(session: nox.Session) -> None:
    """GPU-marked tests on CUDA 12. Fails with a clear message when no GPU is visible."""
    install(session, "dev,cuda12")
    session.run(
        "python", "-c",
        "import jax, sys\n"
        "gpus = [d for d in jax.devices() if d.platform == 'gpu']\n"
        "sys.exit(0) if gpus else sys.exit('nox -s gpu: no GPU visible to JAX (jax.devices() = %s); '"
        "'run this session on a machine with a CUDA 12 GPU and driver' % jax.devices())",
    )
    session.run("pytest", "-m", "gpu", "tests", "-v", *session.posargs, env={"MARLSPEC_JAX_CACHE": ENV["MARLSPEC_JAX_CACHE"]})
    # Data parallel: the sharded/single agreement tests (forced host devices and two processes),
    # then a short throughput run on every GPU against one (results/sharding_gpu.{json,md}).
    session.run("pytest", "tests/test_sharding.py", "-v", env={"MARLSPEC_JAX_CACHE": ENV["MARLSPEC_JAX_CACHE"]})
    session.run("python", "benchmarks/sharding_scaling.py", "--gpu", env=ENV)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Throughput and learning benchmarks; each script writes benchmarks/results/<name>.{json,md}."""
    install(session, "dev,mabrax")
    scripts = session.posargs or sorted(
        f"benchmarks/{f}" for f in os.listdir("benchmarks") if f.endswith(".py") and not f.startswith("_")
    )
    for script in scripts:
        session.run("python", script, env=ENV)
