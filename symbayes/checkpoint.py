"""Checkpoints of chunked runs: resume a killed run without losing a draw.

A checkpoint folder holds

* ``meta.json`` - the run's fingerprint, in named parts (the model's
  description, a hash of the data, the symmetry, the sampler settings and
  key, the shapes of the chain states), the number of completed chunks, the
  chunks that hold draws, timings so far;
* ``state-NNNNN.npz`` - the chain states after chunk ``NNNNN``;
* ``draws-NNNNN.npz`` - the kept draws and statistics of sampling chunk ``NNNNN``.

Every file is written to a temporary name and renamed, and ``meta.json`` is
replaced last, so a run killed at any moment leaves a consistent checkpoint:
the chunk in progress is simply run again. Transition ``t`` of chain ``c``
uses the key ``fold_in(fold_in(key, c), t)``, so a resumed run produces the
same draws as an uninterrupted one. Resuming with another model, other data,
another symmetry or other settings is refused, naming what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["Checkpoint", "SavedRun", "data_hash", "fingerprint"]


class SavedRun(NamedTuple):
    """What a checkpoint gives back on resume."""

    params: list
    stats: list
    phase_seconds: dict[str, float]
    num_grad_evals: int
    extra: dict


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _digest(value: Any) -> str:
    payload = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def data_hash(data: Any) -> str:
    """A SHA-256 of the data arrays (shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(data):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(str((array.shape, str(array.dtype))).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def fingerprint(parts: dict[str, Any], carry: Any) -> dict[str, str]:
    """One digest per named part, plus the shapes of the chain states."""
    shapes = [
        (str(tuple(np.shape(x))), str(np.dtype(x.dtype)))
        for x in jax.tree_util.tree_leaves(carry)
    ]
    digests = {name: _digest(value) for name, value in parts.items()}
    digests["chain states"] = _digest(
        {"shapes": shapes, "tree": str(jax.tree_util.tree_structure(carry))}
    )
    return digests


class Checkpoint:
    """A checkpoint folder bound to one run (see the module docstring)."""

    def __init__(
        self, folder: Path, fingerprint: dict, meta: dict, params_treedef: Any
    ) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.meta = meta
        self.params_treedef = params_treedef

    @staticmethod
    def check_folder(folder: str | Path) -> Path:
        """Refuse a checkpoint path that is a file or cannot be written (cheap)."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"checkpoint path {folder} exists and is not a folder")
        parent = folder if folder.exists() else folder.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise ValueError(f"checkpoint folder {folder} cannot be written")
        return folder

    @classmethod
    def open(
        cls, folder: str | Path, parts: dict[str, Any], carry: Any, params_treedef: Any
    ) -> Checkpoint:
        """Open (or create) ``folder`` for the run described by ``parts``.

        Args:
            folder: the checkpoint folder.
            parts: named parts of the run's identity, e.g. ``{"model": ...,
                "data": data_hash(data), "symmetry": ..., "settings": ...}``.
            carry: the chain states (their shapes are part of the identity).
            params_treedef: the tree structure of one chunk's draws, used to
                rebuild saved draws on resume.

        Raises:
            ValueError: the folder is a file, or holds a checkpoint of a
                different run, naming the parts that differ.
        """
        folder = cls.check_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        digests = fingerprint(parts, carry)
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            saved = meta.get("fingerprint")
            if not isinstance(saved, dict):
                raise ValueError(
                    f"checkpoint {folder} was written by an older version of "
                    "symbayes; use another folder or delete it"
                )
            differ = [name for name in digests if saved.get(name) != digests[name]]
            if differ:
                raise ValueError(
                    f"checkpoint {folder} belongs to a different run: the "
                    f"{', '.join(differ)} differ; use another folder or delete it"
                )
        else:
            meta = {
                "fingerprint": digests,
                "completed": 0,
                "draw_chunks": [],
                "phase_seconds": {"warmup": 0.0, "sampling": 0.0},
                "num_grad_evals": 0,
                "extra": {},
            }
        return cls(folder, digests, meta, params_treedef)

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
            dict(self.meta.get("extra", {})),
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
        extra: dict | None = None,
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
            extra=dict(extra or {}),
        )
        _atomic_write_text(self.folder / "meta.json", json.dumps(self.meta))
        previous = self.folder / f"state-{index - 1:05d}.npz"
        if previous.exists():
            previous.unlink()
