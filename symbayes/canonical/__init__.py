"""Canonical maps: one representative per symmetry orbit (quotient coordinates).

One idea per module:

* :mod:`~symbayes.canonical.sort` - the sort map, a fundamental domain cut
  out by linear inequalities (:func:`sort_canonicalize`);
* :mod:`~symbayes.canonical.align` - the group element closest to a pivot,
  by linear assignment per axis and coordinate-descent sweeps (weight
  matching; :func:`align`);
* :mod:`~symbayes.canonical.pivot` - pivotal relabelling of a whole set of
  draws (one pivot per chain or per canonical mode);
* :mod:`~symbayes.canonical.mixture` - relabelling of mixture components
  from allocations: Stephens' KL algorithm, ECR and its iterative variants,
  PRA, the data-based method, SJW, and :func:`label_switching`, which runs
  several and reports where they agree (the methods of the R package
  ``label.switching``);
* :mod:`~symbayes.canonical.api` - the front doors :func:`canonicalize` and
  :func:`relabel`.

Batches of draws are handled with leading axes (``batch_ndim``); nothing loops
over draws in Python: the sort path is ``jit(vmap(...))``, alignment costs are
computed by jitted functions on chunks of draws, and only the assignment
problems whose nearest units collide go to the solver
(:mod:`symbayes.assignment`).

Permutation convention, everywhere: a permutation ``perm`` relabels so that
**new label k takes old label perm[k]** (``new[k] = old[perm[k]]``), as the
permutation of a :class:`~symbayes.symmetry.GroupElement` and as in the R
package ``label.switching``.
"""

from symbayes.canonical.align import align
from symbayes.canonical.api import canonicalize, relabel
from symbayes.canonical.common import RelabelResult, check_finite
from symbayes.canonical.sort import sort_canonicalize

__all__ = [
    "RelabelResult",
    "align",
    "canonicalize",
    "check_finite",
    "relabel",
    "sort_canonicalize",
]
