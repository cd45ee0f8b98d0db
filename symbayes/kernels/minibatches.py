"""Minibatches drawn without replacement, one shuffle per epoch, on the device.

An epoch is a random permutation of the ``n`` rows cut into ``n // b``
batches of ``b`` rows (the ``n mod b`` rows left at the end of a permutation
wait for the next epoch, whose permutation is fresh). Every batch is a
uniformly random ``b``-subset of the rows, so ``n / b`` times its summed log
likelihood is unbiased for the full-data one; within an epoch no row is
seen twice, which lowers the variance of the epoch's total against drawing
batches independently (Gurbuzbalaban et al. 2021).

The stream holds only the permutation (``n`` integers) and a cursor; a
batch is a gather of ``b`` rows from the data arrays, which stay where they
are: nothing of size ``n`` is copied per step.

References:
    Gurbuzbalaban, Ozdaglar & Parrilo (2021), "Why random reshuffling beats
    stochastic gradient descent", Mathematical Programming 186.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["MinibatchStream", "init_stream", "next_batch"]


class MinibatchStream(NamedTuple):
    """Where a chain is in its current epoch.

    Attributes:
        order: this epoch's permutation of the row indices, ``(n,)`` int32.
        cursor: index of the next batch in the epoch (``0 .. n // b``).
        epoch: number of completed epochs.
    """

    order: jax.Array
    cursor: jax.Array
    epoch: jax.Array


def init_stream(key: jax.Array, num_data: int) -> MinibatchStream:
    """A stream at the start of its first epoch (a fresh permutation)."""
    order = jax.random.permutation(key, num_data).astype(jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    return MinibatchStream(order, zero, zero)


def next_batch(
    key: jax.Array, stream: MinibatchStream, data: tuple, batch_size: int
) -> tuple[tuple, MinibatchStream]:
    """The next batch of the epoch; at the end of an epoch, reshuffle first.

    Args:
        key: used only when a new epoch starts (its permutation, with the
            epoch folded in).
        stream: the chain's stream.
        data: tuple of arrays with leading axis ``n`` (device arrays).
        batch_size: ``b`` rows per batch, ``1 <= b <= n``.

    Returns:
        ``(batch, stream)``: the rows ``order[cursor b : (cursor + 1) b]`` of
        every array, and the stream moved on by one batch.
    """
    num_data = stream.order.shape[0]
    num_batches = num_data // batch_size

    def reshuffle(stream: MinibatchStream) -> MinibatchStream:
        epoch_key = jax.random.fold_in(key, stream.epoch)
        order = jax.random.permutation(epoch_key, num_data).astype(jnp.int32)
        return MinibatchStream(order, jnp.zeros((), jnp.int32), stream.epoch + 1)

    # A loop that runs once at an epoch's end and not at all otherwise, not a
    # ``lax.cond``: vmapped over chains, a cond with a per-chain predicate
    # becomes a select that shuffles every step. The shuffle's key depends on
    # the loop's carry (the epoch) so that XLA cannot hoist the permutation
    # out of the loop as invariant, which would shuffle every step again.
    stream = jax.lax.while_loop(lambda s: s.cursor >= num_batches, reshuffle, stream)
    index = jax.lax.dynamic_slice(
        stream.order, (stream.cursor * batch_size,), (batch_size,)
    )
    batch = tuple(jnp.take(x, index, axis=0) for x in data)
    return batch, stream._replace(cursor=stream.cursor + 1)
