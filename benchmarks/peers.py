"""Peer samplers on the symbayes benchmark posteriors: numpyro NUTS and Stan NUTS.

Each symbayes model of the suite (:class:`symbayes.models.MLP` with one or two
hidden layers, :class:`~symbayes.models.GaussianMixture`,
:class:`~symbayes.models.PPCA`) is written again

* as a numpyro model (:func:`numpyro_model`): the same priors and
  likelihood written with numpyro distributions, the same parameter names;
* as a Stan program (:data:`STAN_PROGRAMS`, :func:`stan_data`): the same
  density with every term written as ``target += *_lpdf`` so the constants
  match too.

:func:`check_log_densities` compares the three log densities at random
points (``python benchmarks/peers.py`` runs it and prints the differences).

Both peers return their draws as a params pytree shaped ``(chain, draw, ...)``
with the symbayes parameter names, so the suite canonicalises and diagnoses
them exactly like symbayes' own draws. Stan is used through pystan 3
(``pip install pystan``; it compiles each program once with the machine's
C++ compiler). Compiled programs are cached under ``benchmarks/cache/``
(httpstan's cache, redirected there through ``XDG_CACHE_HOME``); without
pystan the Stan rows of the suite say so.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density

from symbayes.models import MLP, PPCA, GaussianMixture

CACHE = Path(__file__).resolve().parent / "cache"
NUMPYRO_FIELDS = ("num_steps", "accept_prob", "adapt_state.step_size", "diverging")


# ----------------------------------------------------------------- numpyro
def numpyro_model(model: Any):
    """The symbayes ``model`` as a numpyro model of the data tuple."""
    if isinstance(model, MLP):
        return _numpyro_mlp(model)
    if isinstance(model, GaussianMixture):
        return _numpyro_gmm(model)
    if isinstance(model, PPCA):
        return _numpyro_ppca(model)
    raise TypeError(f"no numpyro version of {type(model).__name__}")


def _numpyro_mlp(model: MLP):
    if model.likelihood != "gaussian":
        raise ValueError("the suite's numpyro MLP is a gaussian regression")
    sizes, scales = model.layer_sizes, model.prior_scale

    def numpyro_fn(X, y):
        params = {}
        for layer in range(1, len(sizes)):
            d_in, d_out, s = sizes[layer - 1], sizes[layer], scales[layer - 1]
            params[f"W{layer}"] = numpyro.sample(
                f"W{layer}", dist.Normal(0.0, s).expand((d_in, d_out)).to_event(2)
            )
            params[f"b{layer}"] = numpyro.sample(
                f"b{layer}", dist.Normal(0.0, s).expand((d_out,)).to_event(1)
            )
        if model.learns_noise:
            log_noise = numpyro.sample("log_noise", dist.Normal(*model.noise_prior))
            sigma = jnp.exp(log_noise)
        else:
            sigma = model.noise
        mean = model.apply(params, X)[:, 0]
        numpyro.sample("y", dist.Normal(mean, sigma).to_event(1), obs=y)

    return numpyro_fn


def _numpyro_gmm(model: GaussianMixture):
    K, D = model.num_components, model.dim
    alpha = model.dirichlet_concentration

    def numpyro_fn(X):
        means = numpyro.sample(
            "means", dist.Normal(0.0, model.mean_prior_scale).expand((K, D)).to_event(2)
        )
        log_scales = numpyro.sample(
            "log_scales",
            dist.Normal(*model.log_scale_prior).expand((K, D)).to_event(2),
        )
        # z = log g, g ~ Gamma(alpha, 1): density alpha z - e^z - lgamma(alpha)
        log_gamma = dist.TransformedDistribution(
            dist.Gamma(alpha, 1.0).expand((K,)), dist.transforms.ExpTransform().inv
        )
        log_weights = numpyro.sample("log_weights", log_gamma.to_event(1))
        mixture = dist.MixtureSameFamily(
            dist.Categorical(logits=log_weights),
            dist.Normal(means, jnp.exp(log_scales)).to_event(1),
        )
        numpyro.sample("x", mixture.expand((X.shape[0],)).to_event(1), obs=X)

    return numpyro_fn


def _numpyro_ppca(model: PPCA):
    D, Q = model.dim, model.latent

    def numpyro_fn(X):
        log_alpha = numpyro.sample(
            "log_alpha", dist.Normal(*model.log_alpha_prior).expand((Q,)).to_event(1)
        )
        W = numpyro.sample(
            "W",
            dist.Normal(
                0.0, jnp.broadcast_to(jnp.exp(-0.5 * log_alpha), (D, Q))
            ).to_event(2),
        )
        mean = numpyro.sample(
            "mean", dist.Normal(0.0, model.mean_prior_scale).expand((D,)).to_event(1)
        )
        log_noise = numpyro.sample("log_noise", dist.Normal(*model.log_noise_prior))
        covariance = W @ W.T + jnp.exp(2.0 * log_noise) * jnp.eye(D, dtype=W.dtype)
        numpyro.sample(
            "x",
            dist.MultivariateNormal(mean, covariance_matrix=covariance)
            .expand((X.shape[0],))
            .to_event(1),
            obs=X,
        )

    return numpyro_fn


def _numpyro_mcmc(
    fn,
    chains: int,
    warmup: int,
    samples: int,
    max_tree_depth: int = 10,
    chain_method: str = "vectorized",
) -> MCMC:
    kernel = NUTS(
        fn, target_accept_prob=0.8, max_tree_depth=max_tree_depth, dense_mass=False
    )
    return MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
    )


COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]


def _on_duration_event(event: str, duration: float, **kwargs: Any) -> None:
    if event in COMPILE_EVENTS:
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_duration_event)


def compile_seconds() -> float:
    """JAX tracing + lowering + XLA compilation seconds so far in this process."""
    return _compile_seconds[0]


def numpyro_phases(mcmc: MCMC, data: tuple, init: Any, key: jax.Array) -> dict:
    """numpyro warmup and sampling, each timed with its compilation apart.

    numpyro compiles inside ``warmup`` and ``run``; the compilation time of
    each phase is the sum of JAX's tracing, lowering and XLA compilation
    events (``jax.monitoring``) during it.
    """
    warmup_key, sampling_key = jax.random.split(key)
    compiled, start = compile_seconds(), time.perf_counter()
    mcmc.warmup(
        warmup_key,
        *data,
        init_params=init,
        extra_fields=NUMPYRO_FIELDS,
        collect_warmup=True,
    )
    warmup_extra = jax.block_until_ready(mcmc.get_extra_fields(group_by_chain=True))
    warmup_seconds = time.perf_counter() - start
    warmup_compile = compile_seconds() - compiled
    compiled, start = compile_seconds(), time.perf_counter()
    mcmc.run(sampling_key, *data, extra_fields=NUMPYRO_FIELDS)
    draws = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    extra = jax.block_until_ready(mcmc.get_extra_fields(group_by_chain=True))
    sampling_seconds = time.perf_counter() - start
    sampling_compile = compile_seconds() - compiled
    return {
        "warmup_seconds": warmup_seconds,
        "sampling_seconds": sampling_seconds,
        "warmup_compile": warmup_compile,
        "sampling_compile": sampling_compile,
        "warmup_extra": warmup_extra,
        "extra": extra,
        "draws": draws,
    }


def run_numpyro(
    model: Any,
    data: tuple,
    init: Any,
    *,
    warmup: int,
    samples: int,
    seed: int,
    max_tree_depth: int = 10,
    chain_method: str = "vectorized",
) -> dict[str, Any]:
    """numpyro NUTS (diagonal mass matrix, target acceptance 0.8).

    ``chain_method``: numpyro's ``"vectorized"`` (vmap over chains) or
    ``"sequential"`` (one chain after another: its fast mode on CPU).

    numpyro compiles inside ``warmup`` and ``run``; the compilation time
    measured in each phase (:func:`numpyro_phases`) is subtracted from its
    wall time (raw wall times are kept).

    Returns:
        ``draws`` (``(chain, draw, ...)`` numpy pytree), ``seconds``,
        ``grad_evals``, ``divergences``, ``mean_acceptance``.
    """
    fn = numpyro_model(model)
    chains = int(jax.tree_util.tree_leaves(init)[0].shape[0])
    key = jax.random.key(seed)
    mcmc = _numpyro_mcmc(fn, chains, warmup, samples, max_tree_depth, chain_method)
    phases = numpyro_phases(mcmc, data, init, key)
    extra, warmup_extra = phases["extra"], phases["warmup_extra"]
    return {
        "draws": {k: np.asarray(v) for k, v in phases["draws"].items()},
        "seconds": {
            "compile": phases["warmup_compile"] + phases["sampling_compile"],
            "warmup": max(phases["warmup_seconds"] - phases["warmup_compile"], 0.0),
            "sampling": max(
                phases["sampling_seconds"] - phases["sampling_compile"], 0.0
            ),
            "warmup_wall_raw": phases["warmup_seconds"],
            "sampling_wall_raw": phases["sampling_seconds"],
        },
        "grad_evals": {
            "warmup": int(np.sum(warmup_extra["num_steps"])),
            "sampling": int(np.sum(extra["num_steps"])),
        },
        "divergences": int(np.sum(extra["diverging"])),
        "mean_acceptance": float(np.mean(extra["accept_prob"])),
    }


# -------------------------------------------------------------------- Stan
STAN_MLP1 = """
data {
  int<lower=1> N; int<lower=1> D; int<lower=1> H;
  matrix[N, D] X; vector[N] y;
  real<lower=0> s1; real<lower=0> s2;
  real noise_mean; real<lower=0> noise_sd;
  int<lower=0, upper=1> relu;
}
parameters {
  matrix[D, H] W1; vector[H] b1; matrix[H, 1] W2; vector[1] b2; real log_noise;
}
model {
  matrix[N, H] a = X * W1 + rep_matrix(b1', N);
  matrix[N, H] h;
  if (relu) h = 0.5 * (a + abs(a)); else h = tanh(a);
  target += normal_lpdf(to_vector(W1) | 0, s1) + normal_lpdf(b1 | 0, s1);
  target += normal_lpdf(to_vector(W2) | 0, s2) + normal_lpdf(b2 | 0, s2);
  target += normal_lpdf(log_noise | noise_mean, noise_sd);
  target += normal_lpdf(y | h * W2[:, 1] + b2[1], exp(log_noise));
}
"""

STAN_MLP2 = """
data {
  int<lower=1> N; int<lower=1> D; int<lower=1> H1; int<lower=1> H2;
  matrix[N, D] X; vector[N] y;
  real<lower=0> s1; real<lower=0> s2; real<lower=0> s3;
  real noise_mean; real<lower=0> noise_sd;
  int<lower=0, upper=1> relu;
}
parameters {
  matrix[D, H1] W1; vector[H1] b1; matrix[H1, H2] W2; vector[H2] b2;
  matrix[H2, 1] W3; vector[1] b3; real log_noise;
}
model {
  matrix[N, H1] a1 = X * W1 + rep_matrix(b1', N);
  matrix[N, H1] h1;
  matrix[N, H2] a2;
  matrix[N, H2] h2;
  if (relu) h1 = 0.5 * (a1 + abs(a1)); else h1 = tanh(a1);
  a2 = h1 * W2 + rep_matrix(b2', N);
  if (relu) h2 = 0.5 * (a2 + abs(a2)); else h2 = tanh(a2);
  target += normal_lpdf(to_vector(W1) | 0, s1) + normal_lpdf(b1 | 0, s1);
  target += normal_lpdf(to_vector(W2) | 0, s2) + normal_lpdf(b2 | 0, s2);
  target += normal_lpdf(to_vector(W3) | 0, s3) + normal_lpdf(b3 | 0, s3);
  target += normal_lpdf(log_noise | noise_mean, noise_sd);
  target += normal_lpdf(y | h2 * W3[:, 1] + b3[1], exp(log_noise));
}
"""

STAN_GMM = """
data {
  int<lower=1> N; int<lower=1> D; int<lower=1> K;
  array[N] row_vector[D] X;
  real<lower=0> mean_sd; real log_scale_mean; real<lower=0> log_scale_sd;
  real<lower=0> alpha;
}
parameters {
  matrix[K, D] means; matrix[K, D] log_scales; vector[K] log_weights;
}
model {
  vector[K] lw = log_softmax(log_weights);
  vector[K] lp;
  target += normal_lpdf(to_vector(means) | 0, mean_sd);
  target += normal_lpdf(to_vector(log_scales) | log_scale_mean, log_scale_sd);
  target += sum(alpha * log_weights - exp(log_weights)) - K * lgamma(alpha);
  for (n in 1:N) {
    for (k in 1:K)
      lp[k] = lw[k] + normal_lpdf(X[n] | means[k], exp(log_scales[k]));
    target += log_sum_exp(lp);
  }
}
"""

STAN_PPCA = """
data {
  int<lower=1> N; int<lower=1> D; int<lower=1> Q;
  array[N] vector[D] X;
  real alpha_mean; real<lower=0> alpha_sd;
  real noise_mean; real<lower=0> noise_sd;
  real<lower=0> mean_sd;
}
parameters {
  matrix[D, Q] W; vector[Q] log_alpha; vector[D] mu; real log_noise;
}
model {
  for (k in 1:Q)
    target += 0.5 * D * (log_alpha[k] - log(2 * pi()))
              - 0.5 * exp(log_alpha[k]) * dot_self(col(W, k));
  target += normal_lpdf(log_alpha | alpha_mean, alpha_sd);
  target += normal_lpdf(mu | 0, mean_sd);
  target += normal_lpdf(log_noise | noise_mean, noise_sd);
  target += multi_normal_cholesky_lpdf(
    X | mu, cholesky_decompose(add_diag(tcrossprod(W), exp(2 * log_noise))));
}
"""

# symbayes parameter name -> Stan parameter name, where they differ
STAN_RENAME = {"ppca": {"mean": "mu"}}


def stan_available() -> str | None:
    """``None`` when pystan imports, else why not."""
    try:
        _import_stan()
    except ImportError as error:
        return f"not run: pystan not installed ({error})"
    return None


def _import_stan():
    CACHE.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(CACHE)  # httpstan's compiled-model cache
    import stan

    return stan


def stan_program(model: Any) -> tuple[str, str, dict[str, Any]]:
    """``(kind, Stan code, data dict without the observations)``."""
    if isinstance(model, MLP):
        sizes, scales = model.layer_sizes, model.prior_scale
        if model.activation not in ("tanh", "relu") or not model.learns_noise:
            raise ValueError("the Stan MLP is tanh/relu with learned noise")
        common = {
            "noise_mean": model.noise_prior[0],
            "noise_sd": model.noise_prior[1],
            "relu": int(model.activation == "relu"),
        }
        if len(sizes) == 3:
            return (
                "mlp",
                STAN_MLP1,
                {"D": sizes[0], "H": sizes[1], "s1": scales[0], "s2": scales[1]}
                | common,
            )
        if len(sizes) == 4:
            return (
                "mlp",
                STAN_MLP2,
                {
                    "D": sizes[0],
                    "H1": sizes[1],
                    "H2": sizes[2],
                    "s1": scales[0],
                    "s2": scales[1],
                    "s3": scales[2],
                }
                | common,
            )
        raise ValueError("the Stan MLP has one or two hidden layers")
    if isinstance(model, GaussianMixture):
        return (
            "gmm",
            STAN_GMM,
            {
                "D": model.dim,
                "K": model.num_components,
                "mean_sd": model.mean_prior_scale,
                "log_scale_mean": model.log_scale_prior[0],
                "log_scale_sd": model.log_scale_prior[1],
                "alpha": model.dirichlet_concentration,
            },
        )
    if isinstance(model, PPCA):
        return (
            "ppca",
            STAN_PPCA,
            {
                "D": model.dim,
                "Q": model.latent,
                "alpha_mean": model.log_alpha_prior[0],
                "alpha_sd": model.log_alpha_prior[1],
                "noise_mean": model.log_noise_prior[0],
                "noise_sd": model.log_noise_prior[1],
                "mean_sd": model.mean_prior_scale,
            },
        )
    raise TypeError(f"no Stan version of {type(model).__name__}")


def stan_data(model: Any, data: tuple) -> tuple[str, str, dict[str, Any]]:
    kind, code, values = stan_program(model)
    X = np.asarray(data[0], dtype=np.float64)
    values = {"N": int(X.shape[0]), "X": X.tolist(), **values}
    if kind == "mlp":
        values["y"] = np.asarray(data[1], dtype=np.float64).tolist()
    return kind, code, values


@contextlib.contextmanager
def _quiet():
    """Silence pystan's progress and the C++ compiler's warnings (stderr).

    pystan writes through ``sys.stderr``; the compiler it runs writes to file
    descriptor 2, which is pointed at ``/dev/null`` meanwhile.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def stan_build(model: Any, data: tuple, seed: int) -> tuple[Any, str, float]:
    """Build (compile once, cached) the Stan posterior; ``(posterior, kind, s)``."""
    stan = _import_stan()
    kind, code, values = stan_data(model, data)
    start = time.perf_counter()
    with _quiet():
        posterior = stan.build(code, data=values, random_seed=seed)
    return posterior, kind, time.perf_counter() - start


def _stan_order(params: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    rename = STAN_RENAME.get(kind, {})
    return [(name, rename.get(name, name)) for name in params]


def stan_log_density(posterior: Any, kind: str, params: dict[str, Any]) -> float:
    """Stan's log density (no Jacobian: every parameter is unconstrained)."""
    order = {
        "mlp": [k for k in ("W1", "b1", "W2", "b2", "W3", "b3") if k in params]
        + ["log_noise"],
        "gmm": ["means", "log_scales", "log_weights"],
        "ppca": ["W", "log_alpha", "mean", "log_noise"],
    }[kind]
    vector = np.concatenate(
        [np.ravel(np.asarray(params[k], np.float64), order="F") for k in order]
    )
    return float(posterior.log_prob(vector.tolist(), adjust_transform=False))


def run_stan(
    model: Any,
    data: tuple,
    init: Any,
    *,
    warmup: int,
    samples: int,
    seed: int,
    max_tree_depth: int = 10,
) -> dict[str, Any]:
    """Stan NUTS (diag_e, adapt delta 0.8) through pystan.

    pystan reports one wall time for warmup + sampling (chains run in
    parallel processes); it is split between the phases in proportion to
    their leapfrog steps (``n_leapfrog__``, warmup saved).
    """
    posterior, kind, build_seconds = stan_build(model, data, seed)
    chains = int(jax.tree_util.tree_leaves(init)[0].shape[0])
    names = _stan_order(init, kind)
    inits = [
        {stan_name: _stan_value(np.asarray(init[name][c])) for name, stan_name in names}
        for c in range(chains)
    ]
    start = time.perf_counter()
    with _quiet():
        fit = posterior.sample(
            num_chains=chains,
            num_warmup=warmup,
            num_samples=samples,
            save_warmup=True,
            init=inits,
            delta=0.8,
            max_depth=max_tree_depth,
        )
    wall = time.perf_counter() - start

    def per_chain(name: str) -> np.ndarray:
        values = np.asarray(fit[name])  # (dims..., draws * chains), chain fastest
        dims = list(values.shape[:-1]) if values.ndim > 1 else []
        if name.endswith("__") or dims == [1] and name not in fit.param_names:
            dims = []
        values = values.reshape(*dims, warmup + samples, chains)
        return np.moveaxis(np.moveaxis(values, -1, 0), -1, 1)  # (chain, draw, ...)

    draws = {}
    for name, stan_name in names:
        shape = np.shape(init[name])[1:]
        value = per_chain(stan_name)[:, warmup:]
        draws[name] = value.reshape(chains, samples, *shape).astype(np.float32)
    leapfrog = per_chain("n_leapfrog__").reshape(chains, warmup + samples)
    divergent = per_chain("divergent__").reshape(chains, warmup + samples)
    accept = per_chain("accept_stat__").reshape(chains, warmup + samples)
    warm_grads, samp_grads = (
        int(leapfrog[:, :warmup].sum()),
        int(leapfrog[:, warmup:].sum()),
    )
    share = warm_grads / max(warm_grads + samp_grads, 1)
    return {
        "draws": draws,
        "seconds": {
            "compile": build_seconds,
            "warmup": wall * share,
            "sampling": wall * (1 - share),
            "sample_call_wall": wall,
        },
        "grad_evals": {"warmup": warm_grads, "sampling": samp_grads},
        "divergences": int(divergent[:, warmup:].sum()),
        "mean_acceptance": float(accept[:, warmup:].mean()),
    }


def _stan_value(value: np.ndarray) -> Any:
    return float(value) if value.ndim == 0 else value.astype(np.float64).tolist()


# ------------------------------------------------------------------- check
def check_log_densities(
    model: Any, data: tuple, params: Any, *, stan: bool = True, seed: int = 0
) -> dict[str, Any]:
    """symbayes vs numpyro (vs Stan) log densities at the given points.

    ``params`` has a leading batch axis. Returns the values and the maximal
    absolute and relative differences.
    """
    ours = np.asarray(jax.vmap(model.logdensity_fn(data))(params), np.float64)
    fn = numpyro_model(model)
    theirs = np.asarray(
        jax.vmap(lambda p: log_density(fn, data, {}, p)[0])(params), np.float64
    )
    out: dict[str, Any] = {
        "symbayes": ours.tolist(),
        "numpyro": theirs.tolist(),
        "numpyro_max_abs_difference": float(np.max(np.abs(ours - theirs))),
        "numpyro_max_relative_difference": float(
            np.max(np.abs(ours - theirs) / np.maximum(np.abs(ours), 1.0))
        ),
    }
    if stan and stan_available() is None:
        posterior, kind, _ = stan_build(model, data, seed)
        count = len(ours)
        values = np.array(
            [
                stan_log_density(
                    posterior,
                    kind,
                    jax.tree_util.tree_map(lambda x, i=i: np.asarray(x[i]), params),
                )
                for i in range(count)
            ]
        )
        out["stan"] = values.tolist()
        out["stan_max_abs_difference"] = float(np.max(np.abs(ours - values)))
        out["stan_max_relative_difference"] = float(
            np.max(np.abs(ours - values) / np.maximum(np.abs(ours), 1.0))
        )
    return out


def _main() -> None:
    """Log-density self-check of every suite problem (``--no-stan`` skips Stan).

    Runs in float64: at points far in the tails (PPCA with a tiny noise) the
    float32 log density of symbayes and numpyro alike is off by ~1e-4
    relative, which is rounding, not a difference between the models.
    """
    import argparse

    jax.config.update("jax_enable_x64", True)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import PROBLEMS, make_problem  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--no-stan", action="store_true")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    args = parser.parse_args()
    for name in args.problems:
        problem = make_problem(name)
        keys = jax.random.split(jax.random.key(123), 3)
        points = jax.vmap(lambda k, p=problem: p.model.init(k, p.data))(keys)
        result = check_log_densities(
            problem.model, problem.data, points, stan=not args.no_stan
        )
        worst = max(
            result["numpyro_max_relative_difference"],
            result.get("stan_max_relative_difference", 0.0),
        )
        print(
            f"{name:<28} symbayes {np.round(result['symbayes'], 3).tolist()} "
            f"numpyro rel. diff {result['numpyro_max_relative_difference']:.2e} "
            f"stan rel. diff {result.get('stan_max_relative_difference', math.nan):.2e}"
            f" {'ok' if worst < 1e-4 else 'MISMATCH'}",
            flush=True,
        )


if __name__ == "__main__":
    _main()
