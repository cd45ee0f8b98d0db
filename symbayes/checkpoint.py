"""Checkpoints of chunked runs: resume a killed run without losing a draw.

A checkpoint folder holds

* ``meta.json`` - the run's fingerprint (settings, key, shapes), the number of
  completed chunks, the chunks that hold draws, timings so far;
* ``state-NNNNN.npz`` - the chain states after chunk ``NNNNN``;
* ``draws-NNNNN.npz`` - the kept draws and statistics of sampling chunk ``NNNNN``.

Every file is written to a temporary name and renamed, and ``meta.json`` is
replaced last, so a run killed at any moment leaves a consistent checkpoint:
the chunk in progress is simply run again. Transition ``t`` uses the key
``fold_in(key, t)``, so a resumed run produces the same draws as an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["Checkpoint", "SavedRun"]


class SavedRun(NamedTuple):
    """What a checkpoint gives back on resume."""

    params: list
    stats: list
    phase_seconds: dict[str, float]
    num_grad_evals: int


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _fingerprint(config: dict, carry: Any) -> str:
    shapes = [
        (str(np.shape(x)), str(np.asarray(x).dtype))
        for x in jax.tree_util.tree_leaves(carry)
    ]
    payload = json.dumps(
        {
            "config": config,
            "carry": shapes,
            "tree": str(jax.tree_util.tree_structure(carry)),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Checkpoint:
    """A checkpoint folder bound to one run (see the module docstring)."""

    def __init__(
        self, folder: Path, fingerprint: str, meta: dict, params_treedef: Any
    ) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.meta = meta
        self.params_treedef = params_treedef

    @classmethod
    def open(
        cls, folder: str | Path, config: dict, carry: Any, params_treedef: Any
    ) -> Checkpoint:
        """Open (or create) ``folder`` for the run described by ``config``.

        ``params_treedef`` is the tree structure of one chunk's draws, used to
        rebuild saved draws on resume.

        Raises:
            ValueError: the folder is a file, or holds a checkpoint of a
                different run (other settings, key or shapes).
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"checkpoint path {folder} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        fingerprint = _fingerprint(config, carry)
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"checkpoint {folder} belongs to a different run (settings, key "
                    "or shapes differ); use another folder or delete it"
                )
        else:
            meta = {
                "fingerprint": fingerprint,
                "completed": 0,
                "draw_chunks": [],
                "phase_seconds": {"warmup": 0.0, "sampling": 0.0},
                "num_grad_evals": 0,
            }
        return cls(folder, fingerprint, meta, params_treedef)

    @property
    def completed(self) -> int:
        """Number of chunks already run."""
        return int(self.meta["completed"])

    def resume(self, carry_template: Any) -> tuple[Any, int, SavedRun]:
        """The saved chain states, the next chunk index and the saved draws."""
        index = self.completed - 1
        leaves, treedef = jax.tree_util.tree_flatten(carry_template)
        with np.load(self.folder / f"state-{index:05d}.npz") as saved:
            restored = [saved[f"leaf{i}"] for i in range(len(leaves))]
        restored = [
            jax.numpy.asarray(value, dtype=np.asarray(template).dtype)
            for value, template in zip(restored, leaves, strict=True)
        ]
        carry = jax.tree_util.tree_unflatten(treedef, restored)
        params, stats = [], []
        for chunk in self.meta["draw_chunks"]:
            with np.load(self.folder / f"draws-{chunk:05d}.npz") as saved:
                num_leaves = int(saved["num_param_leaves"])
                leaves_ = [saved[f"param{i}"] for i in range(num_leaves)]
                stat_names = [
                    n[len("stat_") :] for n in saved.files if n.startswith("stat_")
                ]
                stats.append({name: saved[f"stat_{name}"] for name in stat_names})
            params.append(jax.tree_util.tree_unflatten(self.params_treedef, leaves_))
        saved_run = SavedRun(
            params,
            stats,
            dict(self.meta["phase_seconds"]),
            int(self.meta["num_grad_evals"]),
        )
        return carry, self.completed, saved_run

    def save_chunk(
        self,
        index: int,
        carry: Any,
        params: Any,
        stats: dict[str, np.ndarray] | None,
        phase_seconds: dict[str, float],
        num_grad_evals: int,
    ) -> None:
        """Persist chunk ``index``: its draws (if any), the states, then meta."""
        if params is not None:
            leaves = jax.tree_util.tree_leaves(params)
            arrays = {f"param{i}": np.asarray(x) for i, x in enumerate(leaves)}
            arrays["num_param_leaves"] = np.asarray(len(leaves))
            arrays.update({f"stat_{k}": np.asarray(v) for k, v in stats.items()})
            _atomic_savez(self.folder / f"draws-{index:05d}.npz", arrays)
            self.meta["draw_chunks"] = [*self.meta["draw_chunks"], index]
        state_leaves = jax.tree_util.tree_leaves(jax.device_get(carry))
        _atomic_savez(
            self.folder / f"state-{index:05d}.npz",
            {f"leaf{i}": np.asarray(x) for i, x in enumerate(state_leaves)},
        )
        self.meta.update(
            completed=index + 1,
            phase_seconds=dict(phase_seconds),
            num_grad_evals=int(num_grad_evals),
        )
        _atomic_write_text(self.folder / "meta.json", json.dumps(self.meta))
        previous = self.folder / f"state-{index - 1:05d}.npz"
        if previous.exists():
            previous.unlink()
