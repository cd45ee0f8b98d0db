"""Write the example notebooks of this folder, with outputs stripped.

The notebooks are the artefact; this script is their source, so that prose and
code are reviewed as plain text. Run it from the repository root after editing:

    python notebooks/build.py

Each notebook reads ``SYMBAYES_NOTEBOOK_SMALL`` (set to 1 in CI) to shrink
chains, warmup, samples and datasets; by default it runs at full size.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import os
import warnings

# progress bars are off below; silence tqdm's note about missing ipywidgets
warnings.filterwarnings("ignore", message="IProgress not found")

# SYMBAYES_NOTEBOOK_SMALL=1 (set in CI) shrinks every size; unset: full size.
SMALL = os.environ.get("SYMBAYES_NOTEBOOK_SMALL", "0") not in ("", "0")
print("small (CI) sizes" if SMALL else "full sizes")"""


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------
# 1. quickstart
# --------------------------------------------------------------------------
QUICKSTART = [
    md(r"""
# Quickstart: a tanh BNN, naive against quotient sampling

A Bayesian neural network with one hidden layer of $h$ tanh units has
$h!\,2^h$ parameter vectors that compute the same function: permute the
units, or flip the sign of a unit's incoming weights, bias and outgoing
weight ($\tanh$ is odd). Under an i.i.d. Gaussian prior these are exact
symmetries of the posterior, which is therefore a union of $h!\,2^h$
identical copies.

This notebook samples a 1-3-1 tanh network on the bundled `sinusoidal` data
with NUTS, once naively (`quotient="none"`: the full parameter space) and
with quotient modes, and compares them on the same footing:

1. the comparison table: ESS, R-hat and modes on raw, canonical and function
   coordinates;
2. traces: raw chains sit in different copies, canonical ones do not;
3. posterior predictive bands, which are the same whatever the copy;
4. the mode picture: which chains agree with which.
"""),
    code(SETUP),
    code("""
import jax
import matplotlib.pyplot as plt
import numpy as np

import symbayes
from symbayes.compare import build_problem, compare
from symbayes.report import comparison_table

CHAINS = 4 if SMALL else 8
WARMUP = 100 if SMALL else 400
SAMPLES = 100 if SMALL else 400
MODES = ("none", "fold") if SMALL else ("none", "reparam", "glue", "fold")

problem = build_problem("mlp", "sinusoidal", layers="1-3-1", activation="tanh")
model, data = problem.model, problem.data
print(problem.description, "on", problem.dataset.name, "-", len(data[0]), "points")
print(model.symmetry.describe())
print(f"group order 10^{model.symmetry.log10_order():.2f} (= 3! * 2^3 = 48)")"""),
    md(r"""
## Naive and quotient sampling, side by side

`compare` samples the posterior once per quotient mode. Every method starts
its chains from the same initial points and uses the same sampler key, and
every method is judged on the same coordinates:

* **raw**: the parameters as sampled (only `none` has them; the quotient
  modes sample inside one copy, so their raw and canonical draws coincide);
* **canonical**: each draw mapped to one representative of its orbit (flip
  every unit so that its bias is positive, then sort the units by bias);
* **function**: quantities the symmetry cannot change, the predictions at
  16 probe inputs and the log-likelihood.

The quotient modes:

* `reparam` samples an unconstrained vector mapped smoothly onto the sort
  domain (ordered biases, positive signs), log-Jacobian included; it
  restricts the posterior to the domain, so symbayes first checks with a
  short pilot that no chain crosses the walls, and refuses otherwise;
* `glue` runs HMC inside the sort domain; when a trajectory meets a wall it
  applies the group element that identifies the wall's two sides (swap two
  units, flip one) to position and momentum: the full-space flow folded into
  the domain;
* `fold` moves in the full space and canonicalises the state after every
  transition (exact because symbayes ties the mass matrix across units).
"""),
    code("""
report, runs = compare(
    problem, kernel="nuts", quotient=MODES, chains=CHAINS,
    warmup=WARMUP, samples=SAMPLES, seed=0, progress=print,
)
results = {run.record["method"]: run.result for run in runs}
diagnostics = {run.record["method"]: run.diagnostics for run in runs}"""),
    code("print(comparison_table(report))"),
    md(r"""
### Reading the table

* `ESS` is the smallest bulk effective sample size over coordinates, `Rhat`
  the largest rank-normalised split $\hat R$, each on raw (`raw`), canonical
  (`can`) and function (`fun`) coordinates; `modes` counts groups of chains
  whose pairwise $\hat R$ is below 1.1.
* For `none`, look at the raw columns: each chain wanders into its own copy of
  the posterior, so raw $\hat R$ is far above 1.1 and raw ESS tiny, and the
  raw mode count is close to the number of chains. None of this is a sampling
  problem. The same draws on canonical and function coordinates are what
  should be judged.
* For the quotient modes, raw and canonical columns are the same numbers.
* Compare the canonical and function columns across methods. With this
  network `reparam` is **refused** (a line under the table says why): the
  walls of the sort domain (two biases equal, a bias zero) are not mirror
  planes of the posterior. A point on the wall $b_i = b_j$ is identified with
  the point whose *other* coordinates of units $i$ and $j$ are swapped, so
  regions that the full space connects through the wall are far apart inside
  the domain, and chains restricted to it stay where they started. `fold`
  and `glue` keep those connections and mix like naive sampling.
* The `grads` and `wall s` columns give the cost: read ESS per gradient, not
  ESS alone.
"""),
    md(r"""
## Traces: raw against canonical

The naive run's raw hidden biases: one colour per chain. A chain's bias of
"unit 0" is not comparable with another chain's, because the chains label the
units differently (and may flip their signs). The canonical traces of the
same draws put every chain on the same labelling.
"""),
    code("""
naive = results["none"]
fig, axes = plt.subplots(2, 3, figsize=(12, 5), sharex=True)
for unit in range(3):
    for row, (label, draws) in enumerate(
        (("raw", naive.raw_draws), ("canonical", naive.draws))
    ):
        ax = axes[row, unit]
        for chain in range(naive.num_chains):
            ax.plot(np.asarray(draws["b1"])[chain, :, unit], lw=0.6)
        ax.set_title(f"{label} b1[{unit}]", fontsize=9)
for ax in axes[1]:
    ax.set_xlabel("draw")
fig.suptitle("naive NUTS: raw (top) vs canonical (bottom) hidden biases")
plt.show()"""),
    md(r"""
The posterior mean of a raw weight averages over copies and means nothing;
the canonical mean is a summary of one copy:
"""),
    code("""
for name in ("b1", "W2"):
    raw_mean = np.asarray(naive.raw_draws[name]).mean(axis=(0, 1)).ravel()
    canonical_mean = np.asarray(naive.draws[name]).mean(axis=(0, 1)).ravel()
    print(f"{name}: raw mean {np.round(raw_mean, 2)}, "
          f"canonical mean {np.round(canonical_mean, 2)}")"""),
    md(r"""
## Posterior predictive bands

Predictions do not depend on the copy, so every exact method should give the
same band, up to Monte Carlo error and up to chains that are stuck in poor
regions. The dark band is the 90% interval of the regression function
$f(x)$; the light one adds the learned observation noise (a 90% predictive
interval for a new $y$).
"""),
    code("""
X, y = np.asarray(data[0]), np.asarray(data[1])
grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 200)[:, None].astype(X.dtype)
fig, axes = plt.subplots(
    1, len(results), figsize=(4 * len(results), 3.5), sharey=True, squeeze=False
)
for ax, (method, result) in zip(axes[0], results.items()):
    predictive = model.predictive(result.draws, grid, jax.random.key(0))
    mean = np.asarray(predictive.mean).reshape(-1, len(grid))
    noisy = np.asarray(predictive.samples).reshape(-1, len(grid))
    low, high = np.percentile(noisy, [5, 95], axis=0)
    ax.fill_between(grid[:, 0], low, high, alpha=0.2, label="90% predictive")
    low, mid, high = np.percentile(mean, [5, 50, 95], axis=0)
    ax.fill_between(grid[:, 0], low, high, alpha=0.5, label="90% band of f")
    ax.plot(grid[:, 0], mid, lw=1.5, label="median f")
    ax.scatter(X[:, 0], y, s=5, color="black", label="data")
    ax.set_title(f"nuts/{method}")
    ax.set_xlabel("x")
axes[0, 0].set_ylabel("y (standardised)")
axes[0, 0].legend(fontsize=7)
plt.show()"""),
    md(r"""
## The mode picture

Each panel is the matrix of pairwise $\hat R$ between chains (two chains
alone, largest over coordinates), on a log colour scale clipped at 3. A white
dot marks a pair below 1.1: the chains share a mode. Modes are the connected
groups of chains.

What to look for: for `none`, the raw panel is nearly all off-diagonal
(every chain in its own copy), while the canonical and function panels are
one block if the chains found the same functional solution. A quotient mode
whose canonical panel shows several blocks while the function panel shows
one is a mode that the *sampler* split (a trapped chain in another part of
the sort domain); several blocks in the function panel are functionally
different solutions, which no canonical map can merge.
"""),
    code("""
spaces = ("raw", "canonical", "function")
fig, axes = plt.subplots(
    len(diagnostics), 3, figsize=(10, 3.1 * len(diagnostics)), squeeze=False
)
for row, (method, diagnosis) in enumerate(diagnostics.items()):
    for column, space in enumerate(spaces):
        ax = axes[row, column]
        values = getattr(diagnosis, space)
        if values is None:  # quotient modes keep no raw draws
            ax.set_axis_off()
            continue
        matrix = values.pairwise_rhat
        image = ax.imshow(
            np.log10(np.clip(matrix, 1.0, 3.0)), vmin=0, vmax=np.log10(3.0)
        )
        rows, cols = np.nonzero(matrix < diagnosis.threshold)
        ax.scatter(cols, rows, s=8, color="white")
        ax.set_title(f"{method}: {space} ({values.modes.count} modes)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
fig.colorbar(image, ax=axes, shrink=0.6, label="log10 pairwise R-hat")
plt.show()"""),
    md(r"""
`Diagnostics.table()` gives the same per-space numbers for one run, with the
median ESS and the tail ESS:
"""),
    code("""
for method, diagnosis in diagnostics.items():
    print(f"--- nuts/{method}")
    print(diagnosis.table())"""),
    md(r"""
## Your own runs

`symbayes.sample` is the single-run entry point, and
`symbayes.diagnose` its diagnostics:

```python
result = symbayes.sample(model, data=data, kernel="nuts", quotient="fold",
                         num_chains=8, num_warmup=400, num_samples=400, key=0)
print(symbayes.diagnose(result, model=model, data=data).table())
```

`symbayes.report.write_report(folder, report, runs, model=model, data=data)`
writes the comparison as JSON, PNG figures and an `index.html` page; the
command `symbayes compare` does all of this from the shell.
"""),
    code("""
import tempfile
from pathlib import Path

from symbayes.report import write_report

with tempfile.TemporaryDirectory() as folder:
    index = write_report(folder, report, runs, model=model, data=data)
    print(sorted(path.name for path in Path(folder).iterdir()))"""),
]


# --------------------------------------------------------------------------
# 2. label switching
# --------------------------------------------------------------------------
LABEL_SWITCHING = [
    md(r"""
# Label switching in a Gaussian mixture written in numpyro

A mixture $p(x) = \sum_{k=1}^K w_k\,\mathcal N(x;\mu_k,\sigma_k^2)$ with an
exchangeable prior has $K!$ labellings of the same posterior. MCMC draws then
carry arbitrary labels: chains start in different labellings, and where the
components overlap a single chain can switch labels. Per-component summaries
("the mean of component 1") are meaningless until the draws are
**relabelled**.

This notebook

1. writes a 3-component mixture as a numpyro model and declares its symmetry
   on the sample sites;
2. samples it naively and shows raw traces switching;
3. relabels the draws with pivotal relabelling (`method="pivot"`), Stephens'
   (2000) KL algorithm and ECR (Papastamoulis & Iliopoulos 2010);
4. compares them with ordering by the means, the usual identifiability
   constraint, on separated components (where all agree) and on overlapping
   components with equal means (where ordering fails).
"""),
    code(SETUP),
    code("""
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

import symbayes
from symbayes import Symmetry
from symbayes.datasets import make_gaussian_mixture
from symbayes.models import NumpyroModel, site_axis

K = 3
CHAINS = 4
WARMUP = 150 if SMALL else 500
SAMPLES = 150 if SMALL else 1000
NUM_POINTS = 150 if SMALL else 400"""),
    md(r"""
## The model

The weights are normalised Gamma variables, $g_k \sim \text{Gamma}(1, 1)$,
$w = g / \sum_k g_k \sim \text{Dirichlet}(1, 1, 1)$. A Dirichlet site would
not do: numpyro samples the unconstrained image of every site, and the
stick-breaking transform of a simplex does not commute with permutations
(symbayes checks this when the model is built and says so). A Gamma site's
transform is an elementwise `exp`, which does.

The symmetry is one axis, `component`, whose entries are the three sites,
each permuted along its axis 0. The sort key is the means: the canonical map
orders the components by $\mu_k$.
"""),
    code("""
def mixture(x=None):
    means = numpyro.sample("means", dist.Normal(0, 5).expand([K]).to_event(1))
    log_scales = numpyro.sample(
        "log_scales", dist.Normal(0, 1).expand([K]).to_event(1)
    )
    g = numpyro.sample("g", dist.Gamma(1.0, 1.0).expand([K]).to_event(1))
    components = dist.Normal(means, jnp.exp(log_scales))
    numpyro.sample(
        "x", dist.MixtureSameFamily(dist.Categorical(g / g.sum()), components), obs=x
    )


component = site_axis(
    "component", K,
    [("means", 0, "permute"), ("log_scales", 0, "permute"), ("g", 0, "permute")],
    sort_key="means",
)
SYMMETRY = Symmetry((component,))


def allocation_probabilities(draws, x):
    \"\"\"P(z_i = k | x_i, theta) for draws with leading (chain, draw) axes.\"\"\"
    means = jnp.asarray(draws["means"])[..., None, :]
    scales = jnp.exp(jnp.asarray(draws["log_scales"]))[..., None, :]
    g = jnp.asarray(draws["g"])
    log_w = jnp.log(g / g.sum(-1, keepdims=True))[..., None, :]
    joint = log_w + dist.Normal(means, scales).log_prob(jnp.asarray(x)[:, None])
    return np.asarray(jax.nn.softmax(joint, axis=-1))


def run(x, key):
    \"\"\"Naive NUTS; each chain starts with its means at random data points.\"\"\"
    probes = jnp.linspace(x.min(), x.max(), 16)

    def log_density_at_probes(sites):  # invariant under relabelling
        w = sites["g"] / sites["g"].sum()
        components = dist.Normal(sites["means"], jnp.exp(sites["log_scales"]))
        mixture_at = dist.MixtureSameFamily(dist.Categorical(w), components)
        return mixture_at.log_prob(probes)

    model = NumpyroModel(
        mixture, SYMMETRY, x=jnp.asarray(x), function=log_density_at_probes
    )
    rng = np.random.default_rng(key)
    init = {
        "means": jnp.asarray(rng.choice(x, (CHAINS, K), replace=False)),
        "log_scales": jnp.full((CHAINS, K), np.log(x.std()), jnp.float32),
        "g": jnp.zeros((CHAINS, K)),  # unconstrained: log g = 0
    }
    result = symbayes.sample(
        model, init, quotient="none", num_chains=CHAINS, num_warmup=WARMUP,
        num_samples=SAMPLES, key=key, progress_bar=False,
    )
    return model, result"""),
    md(r"""
## Separated components

Three components with means $-3, 0, 3$ and equal scales and weights.
"""),
    code("""
separated = make_gaussian_mixture(
    NUM_POINTS, means=(-3.0, 0.0, 3.0), scales=(0.7, 0.7, 0.7), seed=1
)
x_sep = separated.X_train[:, 0]
model_sep, result_sep = run(x_sep, key=1)
print(result_sep.summary())"""),
    md(r"""
`result.raw_draws` are the site values as sampled. One colour per component
label, one panel per chain: each chain settled on its own labelling (and, if
the components overlap enough, switches between labellings within the chain).
A pooled per-label mean over these chains mixes different components.
"""),
    code("""
def plot_means(draws, title):
    means = np.asarray(draws["means"])
    fig, axes = plt.subplots(1, means.shape[0], figsize=(3 * means.shape[0], 2.6),
                             sharey=True)
    for chain, ax in enumerate(axes):
        for k in range(K):
            ax.plot(means[chain, :, k], lw=0.6, label=f"label {k}")
        ax.set_title(f"chain {chain}", fontsize=9)
        ax.set_xlabel("draw")
    axes[0].set_ylabel("mean")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    plt.show()


plot_means(result_sep.raw_draws, "raw draws: labels differ between chains")
print("pooled raw per-label means:",
      np.round(np.asarray(result_sep.raw_draws["means"]).mean(axis=(0, 1)), 2))"""),
    md(r"""
## Four ways to label the draws

* **ordering by the means** (`result.draws`, the sort canonical map with the
  means as sort key): the usual identifiability constraint
  $\mu_1 < \mu_2 < \mu_3$. Sorting draws of the full posterior gives the
  same distribution as sampling under the constraint.
* **pivot** (`symbayes.relabel(..., method="pivot")`): align every draw to a
  pivot by the best permutation (least squares over all sites), set the
  pivot to the mean of the aligned draws, repeat.
* **Stephens**: uses the allocation probabilities $p_{ik} = P(z_i = k \mid
  x_i, \theta)$; each draw gets the permutation that minimises the KL
  divergence of its allocation matrix to the current mean allocation matrix.
* **ECR**: each draw gets the permutation under which its hard allocations
  $\arg\max_k p_{ik}$ agree most with a pivot allocation.

Pivot relabelling works on any symmetry; Stephens and ECR need allocation
probabilities, so they are for mixtures.
"""),
    code("""
def label_all(model, result, x):
    raw = result.raw_draws
    probabilities = allocation_probabilities(raw, x)
    labelled = {"ordered by means": result.draws}
    labelled["pivot"] = symbayes.relabel(raw, model.symmetry, method="pivot").draws
    for method in ("stephens", "ecr"):
        labelled[method] = symbayes.relabel(
            raw, model.symmetry, method=method,
            allocation_probabilities=probabilities,
        ).draws
    return labelled


def summary_table(labelled):
    rows = {}
    for method, draws in labelled.items():
        for site in ("means", "log_scales"):
            values = np.asarray(draws[site]).reshape(-1, K)
            rows[(method, site)] = [
                f"{m:.2f} ± {s:.2f}" for m, s in zip(values.mean(0), values.std(0))
            ]
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=[f"label {k}" for k in range(K)]
    )


labelled_sep = label_all(model_sep, result_sep, x_sep)
summary_table(labelled_sep)"""),
    md(r"""
On separated components every method should find the same three
components: the table shows posterior mean ± sd per label, and the labels can
come in a different order per method (a relabelling fixes labels only up to
one global permutation). The relabelled traces:
"""),
    code("""
plot_means(labelled_sep["stephens"], "Stephens-relabelled draws")"""),
    md(r"""
How often do two methods label a draw the same way, up to one global
permutation? For each pair of methods we match labels by the posterior means
of the means, then count the draws whose labelled means agree.
"""),
    code("""
from itertools import permutations


def agreement(first, second):
    a = np.asarray(first["means"]).reshape(-1, K)
    b = np.asarray(second["means"]).reshape(-1, K)
    best = 0.0
    for order in permutations(range(K)):
        best = max(best, float(np.mean(np.all(a == b[:, list(order)], axis=1))))
    return best


def agreement_table(labelled):
    names = list(labelled)
    return pd.DataFrame(
        [[agreement(labelled[i], labelled[j]) for j in names] for i in names],
        index=names, columns=names,
    ).round(3)


agreement_table(labelled_sep)"""),
    md(r"""
## Overlapping components: where ordering by the means fails

Now two of the three components share (almost) the same mean but differ in
scale: a narrow one and a wide one, plus a third separated component. The
labels that matter are "narrow" and "wide", and no ordering of the means can
express them: in each draw, whichever of the two has the smaller mean gets
label 0. Ordering then mixes the narrow and the wide component within one
label, so the scale of label 0 (and of label 1) is a blend of two
components, visible as a bimodal histogram. The allocation-based methods
(Stephens, ECR) label by which data points a component explains, so narrow
stays narrow. Components this close also let a single chain switch labels.
"""),
    code("""
overlapping = make_gaussian_mixture(
    NUM_POINTS, means=(0.0, 0.2, 4.0), scales=(0.4, 2.0, 0.6), seed=2
)
x_ovl = overlapping.X_train[:, 0]
model_ovl, result_ovl = run(x_ovl, key=2)
print(result_ovl.summary())
plot_means(result_ovl.raw_draws, "raw draws, overlapping components")"""),
    code("""
labelled_ovl = label_all(model_ovl, result_ovl, x_ovl)
summary_table(labelled_ovl)"""),
    code("""
fig, axes = plt.subplots(2, len(labelled_ovl), figsize=(14, 5), sharex="row")
for column, (method, draws) in enumerate(labelled_ovl.items()):
    for row, site in enumerate(("means", "log_scales")):
        values = np.asarray(draws[site]).reshape(-1, K)
        ax = axes[row, column]
        for k in range(K):
            ax.hist(values[:, k], bins=50, alpha=0.5, density=True, label=f"{k}")
        ax.set_title(f"{method}: {site}", fontsize=9)
axes[0, 0].legend(title="label", fontsize=7)
fig.suptitle("overlapping components: marginals per label")
plt.show()"""),
    md(r"""
What to look for: under "ordered by means" the two overlapping labels each
show a log-scale histogram with two bumps (the narrow and the wide
component's scale mixed within one label), and their means are pushed apart
(the lower of two nearly equal means is biased down, the higher one up).
Under Stephens and ECR the labels follow the allocations instead: one label
collects the wide component and one the narrow one, with overlapping means.
Pivot relabelling aligns all sites at once by least squares and often lands
close to the allocation-based answer. With few data points the posterior
itself is ambiguous (draws in which the narrow component is not resolved at
all), and every method then shows some residual mixing; more data, as at
full size, sharpens the picture.
The agreement table makes the same point in numbers: ordering disagrees with
the allocation-based labellings on the draws where the wide component's
mean falls below the narrow one's.
"""),
    code("agreement_table(labelled_ovl)"),
    md(r"""
## Summary

* Raw mixture draws carry arbitrary labels; per-label summaries need a
  relabelling first.
* Ordering by the means (the usual constraint, and symbayes' default sort
  map for this model) is fine when the means are well separated, and wrong
  when two components are told apart by something else (scale, weight).
* `symbayes.relabel` implements pivotal relabelling for any declared
  symmetry, and Stephens' and ECR for mixtures, given allocation
  probabilities.
* Function-space quantities (the mixture density at chosen points, the
  log-likelihood) need no labels at all. `run` above built the model with
  `function=` (the log density at 16 points over the data range);
  `model.function_fn()` appends the log-likelihood, and `symbayes.diagnose`
  reports these next to the raw and canonical coordinates.
"""),
    code("""
diagnosis = symbayes.diagnose(result_ovl, model_ovl.function_fn())
print(diagnosis.table())"""),
]


# --------------------------------------------------------------------------
# 3. diagnosing a BNN
# --------------------------------------------------------------------------
DIAGNOSING = [
    md(r"""
# Diagnosing a Bayesian neural network

Multi-chain $\hat R$ and ESS are the standard MCMC checks. On a BNN, computed
on the raw weights, they mislead: a chain's "unit 2" is not another chain's
"unit 2". This notebook runs many naive NUTS chains on a small tanh network
and reads them in three coordinate systems:

* **raw** weights, as sampled;
* **canonical** weights, one representative per orbit of the symmetry group;
* **function** values: predictions at probe inputs and the log-likelihood,
  which no symmetry can change.

Then it counts how many *functionally distinct* modes the chains found, and
how the share of modes that a run reaches (its coverage) grows with the
number of chains.
"""),
    code(SETUP),
    code("""
from dataclasses import replace

import jax
import matplotlib.pyplot as plt
import numpy as np

import symbayes
from symbayes.datasets import load
from symbayes.models import MLP

HIDDEN = 3
CHAINS = 8 if SMALL else 24
WARMUP = 100 if SMALL else 300
SAMPLES = 100 if SMALL else 300

dataset = load("izmailov", split=None)
data = (dataset.X_train, dataset.y_train)
model = MLP((1, HIDDEN, 1), "tanh", noise=None)
print(f"1-{HIDDEN}-1 tanh on {dataset.name}: {len(data[0])} points, "
      f"group order 10^{model.symmetry.log10_order():.2f}")
result = symbayes.sample(
    model, data=data, kernel="nuts", quotient="none", num_chains=CHAINS,
    num_warmup=WARMUP, num_samples=SAMPLES, key=0, progress_bar=False,
)
print(result.summary())
diagnosis = symbayes.diagnose(result, model=model, data=data)
print(diagnosis.table())"""),
    md(r"""
## Why raw $\hat R$ misleads

$\hat R$ compares the spread between chains with the spread within chains.
Two chains in two symmetric copies of the same mode disagree on every weight
they label differently, so raw $\hat R$ is large although each chain samples
its copy correctly and the chains agree on every prediction. The converse
failure also exists: a weight whose sign and order happen to agree across
chains can give a small raw $\hat R$ while the chains sit in functionally
different solutions. Raw $\hat R$ answers a question about labels, not about
the posterior.

Below: $\hat R$ per coordinate, raw and canonical, with the function
coordinates on the right. The dashed line is 1.1.
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 3.5), width_ratios=(3, 2))
positions = np.arange(len(diagnosis.raw.names))
axes[0].bar(positions - 0.2, diagnosis.raw.rhat, width=0.4, label="raw")
axes[0].bar(positions + 0.2, diagnosis.canonical.rhat, width=0.4, label="canonical")
axes[0].set_xticks(positions)
axes[0].set_xticklabels(diagnosis.raw.names, rotation=90, fontsize=7)
axes[0].set_yscale("log")
axes[0].legend()
function = diagnosis.function
axes[1].bar(np.arange(len(function.names)), function.rhat, color="C2")
axes[1].set_xticks(np.arange(len(function.names)))
axes[1].set_xticklabels(
    [f"f(x{i})" for i in range(len(function.names) - 1)] + ["loglik"],
    rotation=90, fontsize=7,
)
axes[1].set_yscale("log")
axes[1].set_title("function coordinates")
for ax in axes:
    ax.axhline(1.1, color="black", ls="--", lw=0.8)
    ax.set_ylabel("R-hat")
plt.show()"""),
    md(r"""
The raw posterior mean of a weight averages over the symmetric copies that
the chains happen to visit: it is pulled towards zero (signs cancel) and
describes no network in the posterior. The canonical mean summarises one
copy:
"""),
    code("""
for name in ("b1", "W2"):
    print(name, "raw mean      ",
          np.round(np.asarray(result.raw_draws[name]).mean(axis=(0, 1)).ravel(), 2))
    print(name, "canonical mean",
          np.round(np.asarray(result.draws[name]).mean(axis=(0, 1)).ravel(), 2))"""),
    md(r"""
## Canonical and function-space $\hat R$

Canonical $\hat R$ removes the label noise but keeps everything else. If it is
still above 1.1, either chains are in functionally different modes (then the
function $\hat R$ is large too), or the canonical map jumps: where two units
have nearly equal sort keys (biases) the sorted coordinates swap from draw to
draw, which looks like extra variance on exactly those coordinates. The
function coordinates have neither problem, but they only see what they
measure (16 predictions and the log-likelihood here).

Rule of thumb: trust a run when canonical **and** function $\hat R$ are below
1.1; if only the function one is, look at which canonical coordinates are
high (near-tied biases are harmless); if the function one is high, the
chains disagree about predictions, which no relabelling can fix.
"""),
    code("""
for space in diagnosis.spaces():
    worst = np.argsort(np.nan_to_num(space.rhat, nan=0.0))[::-1][:3]
    listed = ", ".join(f"{space.names[i]} {space.rhat[i]:.2f}" for i in worst)
    print(f"{space.space:>9}: max R-hat {space.rhat_max:.2f}; worst: {listed}")"""),
    md(r"""
## Counting distinct modes

Two chains share a mode unless their standardised distance (the limit of
their pairwise $\hat R$, largest over coordinates) exceeds the margin of
$\hat R = 1.1$ beyond its Monte Carlo error; modes are the groups of chains
most of whose pairs are not separated (see the diagnostics concepts page).
On raw coordinates the count is inflated by the symmetry (up to one mode per
chain); canonical and function counts say how many functionally distinct
regions were reached. Each mode's `representative` is its medoid: a draw of
the mode, a network that can be evaluated. The plot shows
each canonical mode's posterior mean prediction, with its share of chains.
"""),
    code("""
for space in diagnosis.spaces():
    print(f"{space.space:>9}: {space.modes.count} mode(s), chains per mode "
          f"{[len(mode.chains) for mode in space.modes.modes]}")

X, y = np.asarray(data[0]), np.asarray(data[1])
grid = np.linspace(X.min() - 0.3, X.max() + 0.3, 200)[:, None].astype(X.dtype)
predict = jax.jit(jax.vmap(model.predictive_mean, in_axes=(0, None)))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.scatter(X[:, 0], y, s=4, color="black", alpha=0.5)
for index, mode in enumerate(diagnosis.canonical.modes.modes[:8]):
    chains = list(mode.chains)
    draws = jax.tree_util.tree_map(
        lambda leaf, c=chains: np.asarray(leaf)[c].reshape(-1, *leaf.shape[2:]),
        result.draws,
    )
    mean = np.asarray(predict(draws, grid)).mean(axis=0)
    ax.plot(grid[:, 0], mean, lw=1.5, label=f"mode {index}: {mode.weight:.0%}")
ax.legend(fontsize=7)
ax.set_title("posterior mean prediction of each canonical mode")
plt.show()"""),
    md(r"""
The pairwise $\hat R$ matrices of the chains, ordered by canonical mode
(white dots: below 1.1):
"""),
    code("""
order = np.argsort(diagnosis.canonical.modes.labels, kind="stable")
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for ax, space in zip(axes, diagnosis.spaces()):
    matrix = space.pairwise_rhat[np.ix_(order, order)]
    image = ax.imshow(np.log10(np.clip(matrix, 1.0, 3.0)), vmin=0, vmax=np.log10(3))
    rows, cols = np.nonzero(matrix < diagnosis.threshold)
    ax.scatter(cols, rows, s=4, color="white")
    ax.set_title(f"{space.space}: {space.modes.count} modes", fontsize=9)
fig.colorbar(image, ax=axes, shrink=0.8, label="log10 pairwise R-hat")
plt.show()"""),
    md(r"""
## Coverage as the number of chains grows

How many chains does one need to see the modes that matter? We split the
chains in two independent halves. The first half is the **reference**: its
canonical modes (`symbayes.reference_modes`). For the second half,
`symbayes.mode_coverage` tells which reference mode each chain reaches
(pairwise $\hat R$ with the mode's draws below 1.1), or none. A run of $C$
chains covers the reference modes that at least one of its chains reaches;
the curve averages over random subsets of $C$ chains from the second half.
Its "weighted" version counts each mode by its share of reference chains.

With a larger reference (more and longer chains) the same code gives a
better yardstick; `ReferenceModes.save` and `symbayes.load_reference_modes`
store one for later runs.
"""),
    code("""
def subset(result, chains):
    pick = lambda tree: jax.tree_util.tree_map(lambda x: np.asarray(x)[chains], tree)
    return replace(
        result, draws=pick(result.draws), raw_draws=pick(result.raw_draws),
        sample_stats={k: v[chains] for k, v in result.sample_stats.items()},
    )


half = CHAINS // 2
reference_run = subset(result, list(range(half)))
test_run = subset(result, list(range(half, CHAINS)))
reference = symbayes.reference_modes(reference_run)
coverage = symbayes.mode_coverage(test_run, reference)
print(f"reference: {reference.count} canonical mode(s) from {half} chains, "
      f"weights {np.round(reference.weights, 2)}")
print("reference mode reached by each test chain (-1: none):", coverage.chain_modes)
print(f"all {half} test chains together: coverage {coverage.fraction:.2f} "
      f"(weighted {coverage.weighted_fraction:.2f})")"""),
    code("""
rng = np.random.default_rng(0)
sizes = sorted({c for c in (1, 2, 4, 8, 16) if c < half} | {half})
fractions, weighted = [], []
for size in sizes:
    plain, heavy = [], []
    for _ in range(200):
        chosen = coverage.chain_modes[rng.choice(half, size, replace=False)]
        reached = np.zeros(reference.count, dtype=bool)
        reached[chosen[chosen >= 0]] = True
        plain.append(reached.mean())
        heavy.append(reference.weights[reached].sum())
    fractions.append(np.mean(plain))
    weighted.append(np.mean(heavy))
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(sizes, fractions, "o-", label="modes reached")
ax.plot(sizes, weighted, "s--", label="weighted by reference share")
ax.set_xscale("log", base=2)
ax.set_xlabel("chains")
ax.set_ylabel("coverage of reference modes")
ax.set_ylim(0, 1.05)
ax.legend()
plt.show()"""),
    md(r"""
What to look for: if the reference has one canonical mode, every chain
reaches it and coverage is flat at 1: the posterior's functional landscape is
simple at this size and one chain would do (once its labels are removed). With
several reference modes, coverage grows with the number of chains, faster
for the weighted version (heavy modes are found first); test chains that
reach no reference mode (`-1`) are modes the reference missed, or chains that
have not converged. Under naive sampling, chains that land in symmetric copies
of a mode already found are wasted: `diagnosis.redundant_chains` lists them.
"""),
    code("""
print(f"{len(diagnosis.redundant_chains)} of {CHAINS} chains landed in a "
      "canonical mode that a lower-numbered chain already occupies")"""),
]


# --------------------------------------------------------------------------
# 4. SGLD on a larger BNN
# --------------------------------------------------------------------------
SGLD = [
    md(r"""
# SGLD on a 2x50 tanh BNN with a quotient mode

Full-batch NUTS gets expensive as networks and datasets grow. Stochastic
gradient Langevin dynamics (SGLD; Welling & Teh 2011) replaces the gradient of
the log posterior by an unbiased minibatch estimate and adds Gaussian noise,

$$\theta_{t+1} = \theta_t + \epsilon_t\, \widehat{\nabla \log p}(\theta_t)
+ \sqrt{2 \epsilon_t}\, \xi_t, \qquad \xi_t \sim \mathcal N(0, I),$$

with no accept/reject step; with a decreasing step size it samples the
posterior in the limit. A network with two hidden layers of 50 tanh units has
a symmetry group of order $(50!\,2^{50})^2 \approx 10^{159}$.

symbayes runs SGLD with a quotient mode: `fold` canonicalises the state after
every step. SGLD's update treats every coordinate alike, so it commutes with
permutations and sign flips, and folding is exact. This notebook

1. samples a 2x50 tanh network on a UCI regression set, naively and with
   `fold`, with minibatches;
2. reads the diagnostics on canonical and function coordinates;
3. checks the calibration of the posterior predictive intervals on the test
   set.
"""),
    code(SETUP),
    code("""
import jax
import matplotlib.pyplot as plt
import numpy as np

import symbayes
from symbayes.datasets import load
from symbayes.models import MLP

WIDTH = 10 if SMALL else 50  # per-coordinate diagnostics dominate at CI size
CHAINS = 4
BATCH = 64
BURN_IN = 1000 if SMALL else 10000
SAMPLES = 100 if SMALL else 500
THINNING = 2 if SMALL else 10
DIAGNOSTIC_THINNING = 2 if SMALL else 5

dataset = load("energy", split=0)
train = (dataset.X_train, dataset.y_train)
if SMALL:
    train = (train[0][:200], train[1][:200])
X_test, y_test = dataset.X_test, dataset.y_test
# prior sd 1 on the first layer, 1/sqrt(fan-in) on the later ones
prior_scale = (1.0, WIDTH**-0.5, WIDTH**-0.5)
model = MLP(
    (train[0].shape[1], WIDTH, WIDTH, 1), "tanh", noise=None, prior_scale=prior_scale
)
num_params = sum(np.size(v) for v in model.init(jax.random.key(0)).values())
print(f"{dataset.name}: {len(train[0])} training and {len(y_test)} test rows, "
      f"{train[0].shape[1]} features (standardised)")
print(f"{model.name}: {num_params} parameters, "
      f"group order 10^{model.symmetry.log10_order():.0f}")
if SMALL:
    print("(CI size: 2x10 hidden units instead of 2x50)")"""),
    md(r"""
## Step sizes and minibatches

The minibatch log density is $\log p(\theta) + \frac{N}{B}\sum_{i \in
\text{batch}} \log p(y_i \mid x_i, \theta)$ with $B$ rows drawn without
replacement. The step size follows the polynomial schedule
$\epsilon_t = a (b + t)^{-\gamma}$ (`symbayes.polynomial_schedule`), which
satisfies the Robbins-Monro conditions for $0.5 < \gamma \le 1$. The first
`BURN_IN` steps are discarded, then every `THINNING`-th state is kept.

Both runs start from the same prior draws and use the same key.

The prior matters here: with standard normal weights on every layer, a unit
of the second layer sums 50 inputs and the output 50 more, so prior networks
have huge, saturated outputs and the first SGLD steps blow up (the run then
stops with an error about non-finite parameters). Scaling the prior sd of
the later layers by $1/\sqrt{\text{fan-in}}$ keeps prior functions on the
scale of the standardised targets. The step size too is a compromise: larger
steps inject more noise than the discretisation can correct, which shows up
as an inflated noise scale; smaller ones need more steps to move.
"""),
    code("""
schedule = symbayes.polynomial_schedule(1e-4, decay_offset=1000.0, exponent=0.55)
keys = jax.random.split(jax.random.key(0), CHAINS)
init = jax.vmap(model.init)(keys)
results = {}
for quotient in ("none", "fold"):
    results[quotient] = symbayes.sample(
        model, init, data=train, kernel="sgld", quotient=quotient,
        step_size=schedule, batch_size=BATCH, num_chains=CHAINS,
        num_warmup=BURN_IN, num_samples=SAMPLES, thinning=THINNING,
        key=1, progress_bar=False,
    )
    print(results[quotient].summary())"""),
    md(r"""
## Diagnostics

With thousands of coordinates, per-coordinate ESS and $\hat R$ cost more
than the sampling; the diagnostics below use every
`DIAGNOSTIC_THINNING`-th kept draw. Things to expect, and to check in the
numbers:

* naive raw coordinates: chains sit in different copies (and never meet in
  a space of this size), so raw $\hat R$ is huge and raw modes equal the
  number of chains;
* canonical coordinates: for `fold` raw and canonical coincide. With 50
  units per layer, independent SGLD chains typically stay in different
  canonical modes: different weight configurations that no permutation or
  sign flip maps onto each other (and, where two units' biases nearly tie,
  sort-map jumps add spurious variance). Expect canonical $\hat R$ well above
  1.1 for both methods. Quotienting removes the symmetric copies; it does
  not make separate modes meet.
* function coordinates are the fairest comparison of the two runs: same
  quantities, no labels. Chains in different weight-space modes can still
  make nearly the same predictions; compare the function $\hat R$ and mode
  count with the canonical ones to see whether the chains differ in what
  they predict or only in how they are wired.
"""),
    code("""
def thinned(result, step=DIAGNOSTIC_THINNING):
    pick = lambda tree: jax.tree_util.tree_map(
        lambda x: np.asarray(x)[:, ::step], tree
    )
    raw = None if result.raw_draws is None else pick(result.raw_draws)
    return symbayes.SampleResult(
        draws=pick(result.draws), raw_draws=raw,
        sample_stats={k: v[:, ::step] for k, v in result.sample_stats.items()},
        timings=result.timings, config=result.config, symmetry=result.symmetry,
    )


diagnostics = {}
for quotient, result in results.items():
    diagnostics[quotient] = symbayes.diagnose(thinned(result), model=model, data=train)
    print(f"--- sgld/{quotient}")
    print(diagnostics[quotient].table())"""),
    md(r"""
Traces of the log-likelihood (a function coordinate) and of the learned
noise scale show whether burn-in was long enough: the traces should be
stationary, not drifting.
"""),
    code("""
loglik = {q: symbayes.diagnostics.function_draws(
    model.function_fn(train), results[q].draws)[..., -1] for q in results}
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
for quotient, values in loglik.items():
    for chain in range(CHAINS):
        axes[0 if quotient == "none" else 1].plot(values[chain], lw=0.6)
    noise = np.exp(np.asarray(results[quotient].draws["log_noise"]))
    axes[2].plot(noise.T, lw=0.6, color="C0" if quotient == "none" else "C1")
axes[0].set_title("none: training log-likelihood")
axes[1].set_title("fold: training log-likelihood")
axes[2].set_title("noise sd (blue: none, orange: fold)")
for ax in axes:
    ax.set_xlabel("kept draw")
plt.show()"""),
    md(r"""
## Calibration of predictive intervals

For each test input, the posterior predictive distribution is represented by
one simulated $y$ per draw ($f(x)$ plus Gaussian noise with the draw's
learned scale). A central interval at level $\alpha$ is *calibrated* when
a fraction $\alpha$ of the test targets falls inside it. The curve plots
observed against nominal coverage: on the diagonal is calibrated, above it
the intervals are too wide, below it too narrow. The test set is small, so
expect binomial noise of a few percentage points around the curve.

The same predictions are scored by RMSE and by the test log predictive
density (the log of the mean over draws of $p(y \mid x, \theta)$, higher is
better), in standardised units. Compare the test RMSE of the pooled
predictive mean with the learned noise sd: when the noise sd is well above
the RMSE, the predictive intervals are mostly noise and too wide (the curve
runs above the diagonal). That is what an SGLD chain that has not yet fitted
the data, or one run at too large a step size, produces; longer burn-in and
smaller final steps move the curve towards the diagonal.
"""),
    code("""
levels = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])


def evaluate(result, key=0):
    draws = jax.tree_util.tree_map(np.asarray, result.draws)
    predictive = model.predictive(draws, X_test, jax.random.key(key))
    mean = np.asarray(predictive.mean).reshape(-1, len(y_test))
    simulated = np.asarray(predictive.samples).reshape(-1, len(y_test))
    sigma = np.exp(draws["log_noise"]).reshape(-1, 1)
    log_density = (
        -0.5 * ((y_test - mean) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    )
    lpd = np.mean(np.logaddexp.reduce(log_density, axis=0) - np.log(len(mean)))
    observed = []
    for level in levels:
        low, high = np.quantile(simulated, [(1 - level) / 2, (1 + level) / 2], axis=0)
        observed.append(np.mean((y_test >= low) & (y_test <= high)))
    rmse = np.sqrt(np.mean((mean.mean(axis=0) - y_test) ** 2))
    return np.array(observed), rmse, lpd


def one_chain(result, chain):
    pick = lambda tree: jax.tree_util.tree_map(
        lambda x: np.asarray(x)[chain : chain + 1], tree
    )
    return symbayes.SampleResult(
        draws=pick(result.draws), raw_draws=None, sample_stats={},
        timings=result.timings, config=result.config,
    )


fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot([0, 1], [0, 1], color="black", lw=0.8)
for quotient, result in results.items():
    observed, rmse, lpd = evaluate(result)
    ax.plot(levels, observed, "o-", label=f"{quotient}, {CHAINS} chains pooled")
    print(f"sgld/{quotient}, {CHAINS} chains pooled: test RMSE {rmse:.3f}, "
          f"test log predictive density {lpd:.3f}")
    noise = np.exp(np.asarray(result.draws["log_noise"])).mean()
    print(f"    mean learned noise sd {noise:.3f}")
    for chain in range(CHAINS):
        observed, rmse, lpd = evaluate(one_chain(result, chain))
        print(f"    chain {chain}: RMSE {rmse:.3f}, lpd {lpd:.3f}")
ax.set_xlabel("nominal coverage")
ax.set_ylabel("observed coverage on the test set")
ax.legend(fontsize=8)
plt.show()"""),
    md(r"""
## What this shows, and what it does not

* With SGLD, quotienting changes neither the cost of a step (one minibatch
  gradient; the fold is a sort of 2x50 keys) nor, by itself, the
  predictions: the predictive distribution of `none` and `fold` should agree
  up to Monte Carlo error and chain-to-chain differences.
* What `fold` buys is draws that are already canonical, summaries of weights
  that mean something, and diagnostics on canonical coordinates without a
  post-hoc step. It does not make SGLD chains in separate functional modes
  meet; pooling several chains (a "deep ensemble" of posterior samples)
  usually improves RMSE, test log density and calibration over single
  chains, as the per-chain numbers above let you check.
* SGLD without a Metropolis correction is biased at a finite step size; a
  smaller final step size (a larger `decay_offset` or exponent) and more
  steps reduce the bias. The noise-scale trace is a sensitive check.
"""),
]


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_label_switching.ipynb": LABEL_SWITCHING,
    "03_diagnosing_a_bnn.ipynb": DIAGNOSING,
    "04_sgld_large_bnn.ipynb": SGLD,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        }
        notebook.metadata["language_info"] = {"name": "python"}
        for index, cell in enumerate(notebook.cells):
            cell["id"] = f"{name[:2]}-{index:02d}"
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
