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
