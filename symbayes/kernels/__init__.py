"""Kernels: one file each, all with the interface of :mod:`symbayes.kernels.base`.

==================  ============================  =====  =========================
name                kernel                        exact  quotient modes
==================  ============================  =====  =========================
``nuts``            :class:`NUTS` (blackjax)      yes    none, reparam, glue, fold
``hmc``             :class:`HMC` (blackjax)       yes    none, reparam, glue, fold
``sgld``            :class:`SGLD` (minibatches)   no     none, reparam, fold
``psgld``           :class:`PSGLD` (minibatches)  no     none, reparam, fold
``sghmc``           :class:`SGHMC` (minibatches)  no     none, reparam, fold
``psghmc``          :class:`PSGHMC` (minibatches) no     none, reparam, fold
``mclmc``           :class:`MCLMC` (unadjusted)   no     none, fold
``adjusted_mclmc``  :class:`AdjustedMCLMC`        yes    none, fold
``chees``           :class:`ChEES` (cross-chain)  yes    none, fold
==================  ============================  =====  =========================

``symbayes.sample(kernel="nuts", max_num_doublings=8)`` builds
``NUTS(max_num_doublings=8)``; a kernel object can be passed instead.
"""

from __future__ import annotations

from typing import Any

from symbayes.kernels.adjusted_mclmc import AdjustedMCLMC
from symbayes.kernels.base import Kernel, Target, Transitions
from symbayes.kernels.chees import ChEES
from symbayes.kernels.hmc import HMC
from symbayes.kernels.mclmc import MCLMC
from symbayes.kernels.nuts import NUTS
from symbayes.kernels.schedules import (
    ConstantSchedule,
    CyclicalSchedule,
    PolynomialSchedule,
    cyclical_schedule,
    polynomial_schedule,
)
from symbayes.kernels.sghmc import PSGHMC, SGHMC
from symbayes.kernels.sgld import PSGLD, SGLD

__all__ = [
    "AdjustedMCLMC",
    "ChEES",
    "HMC",
    "KERNELS",
    "MCLMC",
    "NUTS",
    "PSGHMC",
    "PSGLD",
    "SGHMC",
    "SGLD",
    "ConstantSchedule",
    "CyclicalSchedule",
    "Kernel",
    "PolynomialSchedule",
    "Target",
    "Transitions",
    "cyclical_schedule",
    "make_kernel",
    "polynomial_schedule",
]

KERNELS: dict[str, type[Kernel]] = {
    cls.name: cls
    for cls in (NUTS, HMC, SGLD, PSGLD, SGHMC, PSGHMC, MCLMC, AdjustedMCLMC, ChEES)
}


def make_kernel(kernel: str | Kernel, options: dict[str, Any]) -> Kernel:
    """A kernel object from a name and options (or the object itself).

    Raises:
        ValueError: an unknown kernel name, or options the kernel does not
            take (the message lists the ones it does).
    """
    if isinstance(kernel, Kernel):
        if options:
            raise ValueError(
                f"options {sorted(options)} were given with a kernel object; set them "
                f"on the object instead ({type(kernel).__name__}(...))"
            )
        return kernel
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(
            f"unknown kernel {kernel!r}; choose one of {tuple(KERNELS)} or pass a "
            "symbayes.kernels.Kernel"
        )
    cls = KERNELS[kernel]
    unknown = sorted(set(options) - set(cls.option_names()))
    if unknown:
        raise ValueError(
            f"kernel {kernel!r} does not take {', '.join(unknown)}; its options are "
            f"{', '.join(cls.option_names())}"
        )
    return cls(**options)
