"""A KV cache allocated once per generation, for the GPT token loops.

Hugging Face's DynamicCache grows by `torch.cat` at every token: each step copies the whole cache
of every layer (at batch 8 and 400 positions, about 0.8 GB per step for XTTS's 30 layers, more
than the int8 weights themselves). The token loops know the longest sequence before they start
(prefix + token limit), so this cache allocates that once and writes each step's keys and values
in place; attention reads a view of the filled part. The values are the same as DynamicCache's:
only the copying goes away. It is also the static-shape cache a CUDA graph needs.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One layer's keys and values in buffers of `capacity` positions; `keys`/`values` are views."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        batch, heads, _, head_dim = key_states.shape
        shape = (batch, heads, self.capacity, head_dim)
        self._key_buffer = torch.empty(shape, dtype=self.dtype, device=self.device)
        self._value_buffer = torch.empty(shape, dtype=self.dtype, device=self.device)
        self._set_views()
        self.is_initialized = True

    def update(
        self,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        cache_kwargs: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise ValueError(
                f"the KV cache holds {self.capacity} positions; position {end} was written"
            )
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._set_views()
        assert self.keys is not None and self.values is not None  # set by _set_views
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._key_buffer = self._key_buffer[indices]
            self._value_buffer = self._value_buffer[indices]
            self._set_views()

    def _set_views(self) -> None:
        self.keys = self._key_buffer[:, :, : self.length]
        self.values = self._value_buffer[:, :, : self.length]


class PreallocatedCache(DynamicCache):
    """A DynamicCache whose layers are PreallocatedLayer (created lazily, one per GPT layer)."""

    def __init__(self, capacity: int) -> None:
        # transformers annotates a class, but only calls it: a partial with the capacity works.
        layer = functools.partial(PreallocatedLayer, capacity)
        Cache.__init__(self, layer_class_to_replicate=layer)  # type: ignore[arg-type]


# Columns added when a RowLayer runs out of room: an eighth of its length, at least this many. A
# reallocation copies the cache, so growing by a fraction keeps its cost per token bounded, and
# a short sentence's rows do not carry a long tail of empty columns (245 kB per row and column
# for the full-size model in fp32).
_MIN_HEADROOM = 16


def _headroom(length: int) -> int:
    return max(_MIN_HEADROOM, length // 8)


class RowLayer(DynamicLayer):
    """One layer's keys and values for a batch whose rows come and go (continuous batching).

    The buffers grow as rows are inserted, by one row or to the rows `reserve`d for rows admitted
    together, up to `max_rows` (a batch that only ever holds one row, such as a single
    listener's, keeps one row's cache); `keys`/`values` are
    views of the live rows and the live columns. A row is inserted right-aligned (its prefix
    ends at the last column, the columns before it zero and masked by the caller); columns no
    row needs are dropped from the left by moving the view, and the buffer is reallocated only
    when the view reaches its end (or a row more is needed).
    """

    def __init__(self, max_rows: int) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.rows = 0
        self.start = 0
        self.length = 0
        self.reserved = 1  # rows to make room for at the next growth (`reserve`)

    def insert(self, key_states: torch.Tensor, value_states: torch.Tensor) -> int:
        """Add a row ([1, heads, P, dim]); returns how many columns were added on the left."""
        prefix = key_states.shape[-2]
        if not self.is_initialized:
            self.dtype, self.device = key_states.dtype, key_states.device
            _, heads, _, head_dim = key_states.shape
            # no columns yet: the first row's shift sizes them (prefix and headroom, once)
            shape = (self.reserved, heads, 0, head_dim)
            self._key_buffer = torch.zeros(shape, dtype=self.dtype, device=self.device)
            self._value_buffer = torch.zeros(shape, dtype=self.dtype, device=self.device)
            self.is_initialized = True
        if self.rows >= self.max_rows:
            raise ValueError(f"the batch holds {self.max_rows} rows")
        shift = max(0, prefix - self.length)
        grow = self.rows >= self._key_buffer.shape[0]  # full: one row more
        if shift or grow:
            room = self._key_buffer.shape[-2] - self.start - self.length
            rows = max(self.rows + 1, self.reserved) if grow else self._key_buffer.shape[0]
            length = self.length + shift
            self._reallocate(length + max(room, _headroom(length)), shift, rows)
        end = self.start + self.length
        for buffer, states in ((self._key_buffer, key_states), (self._value_buffer, value_states)):
            buffer[self.rows, :, self.start : end - prefix] = 0
            buffer[self.rows, :, end - prefix : end] = states[0]
        self.rows += 1
        self._set_views()
        return shift

    def update(
        self,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        cache_kwargs: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        added = key_states.shape[-2]
        if self.start + self.length + added > self._key_buffer.shape[-2]:
            length = self.length + added
            self._reallocate(length + _headroom(length), 0, self._key_buffer.shape[0])
        end = self.start + self.length
        self._key_buffer[: self.rows, :, end : end + added] = key_states
        self._value_buffer[: self.rows, :, end : end + added] = value_states
        self.length += added
        self._set_views()
        assert self.keys is not None and self.values is not None  # set by _set_views
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def select_rows(self, indices: torch.Tensor) -> None:
        count = len(indices)
        self._key_buffer[:count] = self._key_buffer[indices]
        self._value_buffer[:count] = self._value_buffer[indices]
        self.rows = count
        self._set_views()

    def drop_columns(self, count: int) -> None:
        self.start += count
        self.length -= count
        self._set_views()

    def _reallocate(self, capacity: int, left: int, rows: int) -> None:
        """New buffers of `rows` rows and `capacity` columns: the live ones copied, after `left`
        zero columns."""
        for name in ("_key_buffer", "_value_buffer"):
            old = getattr(self, name)
            new = old.new_zeros((rows, old.shape[1], capacity, old.shape[3]))
            live = old[: self.rows, :, self.start : self.start + self.length]
            new[: self.rows, :, left : left + self.length] = live
            setattr(self, name, new)
        self.start = 0
        self.length += left

    def _set_views(self) -> None:
        end = self.start + self.length
        self.keys = self._key_buffer[: self.rows, :, self.start : end]
        self.values = self._value_buffer[: self.rows, :, self.start : end]

    def reserve(self, rows: int) -> None:
        """Rows about to be inserted together: the next growth makes room for all of them at once
        (one copy of the cache instead of one per row)."""
        self.reserved = min(self.max_rows, rows)

    def release(self) -> None:
        """No rows left: drop the buffers too (the next insert allocates anew)."""
        self.rows = self.start = self.length = 0
        self.reserved = 1
        self.is_initialized = False
        self.keys = self.values = None
        self._key_buffer = self._value_buffer = None  # type: ignore[assignment]


class RowCache(DynamicCache):
    """A cache of RowLayers, one per GPT layer, created up front (rows are inserted, not updated)."""

    def __init__(self, layers: int, capacity_rows: int) -> None:
        Cache.__init__(self, layers=[RowLayer(capacity_rows) for _ in range(layers)])
        self.max_rows = capacity_rows

    @property
    def length(self) -> int:
        return self._row_layers[0].length

    @property
    def _row_layers(self) -> list[RowLayer]:
        return self.layers  # type: ignore[return-value]  # built from RowLayers only

    def insert(self, prefilled: Cache, row: int = 0, columns: torch.Tensor | None = None) -> int:
        """Add a row from a prefilled cache: its row `row`, the given columns in order (None:
        all; a batch's prefill has padding to leave out); returns the left shift."""
        shifts = set()
        for layer, source in zip(self._row_layers, prefilled.layers, strict=True):
            assert source.keys is not None and source.values is not None  # prefilled
            keys, values = source.keys[row : row + 1], source.values[row : row + 1]
            if columns is not None:
                keys, values = keys[:, :, columns], values[:, :, columns]
            shifts.add(layer.insert(keys, values))
        return shifts.pop()

    def select_rows(self, indices: torch.Tensor) -> None:
        for layer in self._row_layers:
            layer.select_rows(indices)

    def reserve(self, rows: int) -> None:
        """The batch is about to hold `rows` rows (RowLayer.reserve)."""
        for layer in self._row_layers:
            layer.reserve(rows)

    def drop_columns(self, count: int) -> None:
        for layer in self._row_layers:
            layer.drop_columns(count)

    def clear(self) -> None:
        """No rows left: the buffers go too (a batch that empties keeps no memory)."""
        for layer in self._row_layers:
            layer.release()
