"""A paged key/value cache for continuous batching, with prefix caching.

Keys and values of all sequences live in one pool per layer, cut into blocks of
``block_size`` token slots; a sequence owns a list of blocks (its block table), taken from
the pool as it grows and given back when it ends, so memory follows the tokens actually
held rather than ``max_len`` per sequence.

Prefix caching: a block that is full is registered under a hash of its tokens and of
every token before it (a chain of block hashes). A new sequence whose leading full blocks
hash the same takes those blocks (shared, reference-counted) instead of recomputing them.
A cached block nobody uses stays in the pool, evictable, until a new block is needed.

One forward step runs the new tokens of many sequences as a single flattened row
``(1, T)``: ``schedule`` lays the step out, and the model calls ``positions``,
``attend`` and ``advance`` (the interface of ``ember.models.generation.KVCache``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

import ember

from ..models.generation import attention

__all__ = ["BlockPool", "PagedKVCache"]


class BlockPool:
    """Block ids with reference counts, a free list and the prefix-cache table."""

    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self.refcount = np.zeros(num_blocks, dtype=np.int64)
        # last freed is reused first, so the pages touched stay few
        self.free: list[int] = list(range(num_blocks - 1, -1, -1))
        self.cached: dict[int, int] = {}       # block hash -> block
        self.block_hash: dict[int, int] = {}   # block -> its hash, for cached blocks
        self.evictable: OrderedDict[int, None] = OrderedDict()  # cached, unused; LRU first

    def num_free(self) -> int:
        """Blocks a sequence can take: never used, or cached but unused."""
        return len(self.free) + len(self.evictable)

    def num_used(self) -> int:
        return int(np.count_nonzero(self.refcount))

    def allocate(self) -> int:
        """A block for new tokens, evicting the least recently used cached one if needed."""
        if self.free:
            block = self.free.pop()
        elif self.evictable:
            block, _ = self.evictable.popitem(last=False)
            del self.cached[self.block_hash.pop(block)]
        else:
            raise RuntimeError("KV cache pool exhausted")
        self.refcount[block] = 1
        return block

    def take_cached(self, block_hash: int) -> int | None:
        """The cached block of ``block_hash``, now also referenced by the caller."""
        block = self.cached.get(block_hash)
        if block is not None:
            self.evictable.pop(block, None)
            self.refcount[block] += 1
        return block

    def register(self, block: int, block_hash: int) -> None:
        """Make a full block findable by its hash (the first block with a hash wins)."""
        if block_hash not in self.cached and block not in self.block_hash:
            self.cached[block_hash] = block
            self.block_hash[block] = block_hash

    def release(self, block: int) -> None:
        """Drop one reference; an unreferenced block becomes evictable or free."""
        self.refcount[block] -= 1
        if self.refcount[block] == 0:
            if block in self.block_hash:
                self.evictable[block] = None
            else:
                self.free.append(block)


@dataclass
class _Sequence:
    blocks: list[int]
    tokens: list[int]              # tokens whose keys and values are (being) computed
    hashes: list[int]              # hashes of the full blocks registered so far
    reserved: int                  # blocks promised to it and not yet taken
    length: int = 0                # tokens whose keys and values are stored
    new: int = 0                   # tokens of the step being run


class PagedKVCache:
    """Block tables of many sequences over one block pool per layer.

    ``add_sequence`` admits a sequence (reserving the blocks its longest run can need, so a
    running sequence never waits for memory) and takes its cached prefix; ``schedule`` lays
    out one step; ``free_sequence`` returns its blocks.
    """

    def __init__(self, num_blocks: int, block_size: int = 16,
                 prefix_caching: bool = True) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"num_blocks and block_size must be positive, got {num_blocks}, "
                             f"{block_size}")
        self.block_size, self.prefix_caching = block_size, prefix_caching
        self.pool = BlockPool(num_blocks)
        self.seqs: dict[str, _Sequence] = {}
        self.reserved = 0          # blocks promised to running sequences
        self.prefix_cache_hits = 0  # blocks taken from the prefix cache
        self._keys: list[np.ndarray] = []    # per layer (num_blocks * block_size, heads, d)
        self._values: list[np.ndarray] = []
        self._step: dict = {}

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def _hash_chain(self, tokens: list[int], start: int, stop: int, prev: int) -> list[int]:
        """Hashes of full blocks ``start .. stop - 1`` of ``tokens``, chained from ``prev``."""
        out, bs = [], self.block_size
        for i in range(start, stop):
            prev = hash((prev, tuple(tokens[i * bs:(i + 1) * bs])))
            out.append(prev)
        return out

    def add_sequence(self, seq_id: str, prompt: list[int], max_tokens: int) -> int | None:
        """Admit ``seq_id`` to grow to ``max_tokens`` tokens; return how many leading prompt
        tokens are already cached, or None (nothing changed) if the pool cannot hold it.

        The block holding the last prompt token is never taken from the cache: that token
        is always recomputed, since its logits are needed.
        """
        if seq_id in self.seqs:
            raise ValueError(f"sequence {seq_id!r} is already in the cache")
        hits: list[tuple[int, int]] = []  # (hash, block)
        if self.prefix_caching:
            for h in self._hash_chain(prompt, 0, (len(prompt) - 1) // self.block_size, 0):
                block = self.pool.cached.get(h)
                if block is None:
                    break
                hits.append((h, block))
        need = self.blocks_for(max_tokens) - len(hits)
        taken_from_free = sum(self.pool.refcount[b] == 0 for _, b in hits)
        if self.pool.num_free() - taken_from_free - self.reserved < need:
            return None
        for h, _ in hits:
            self.pool.take_cached(h)
        self.prefix_cache_hits += len(hits)
        self.reserved += need
        cached = len(hits) * self.block_size
        self.seqs[seq_id] = _Sequence([b for _, b in hits], list(prompt[:cached]),
                                      [h for h, _ in hits], need, length=cached)
        return cached

    def free_sequence(self, seq_id: str) -> None:
        """Return the blocks of ``seq_id`` (and its unused reservation) to the pool."""
        seq = self.seqs.pop(seq_id)
        self.reserved -= seq.reserved
        for block in seq.blocks:
            self.pool.release(block)

    def schedule(self, batch: list[tuple[str, list[int]]]) -> None:
        """Lay out the next forward: each ``(seq_id, new_tokens)`` in order, flattened."""
        bs = self.block_size
        slots, positions, ctx_lens = [], [], []
        for seq_id, tokens in batch:
            seq = self.seqs[seq_id]
            end = seq.length + len(tokens)
            while len(seq.blocks) * bs < end:
                if seq.reserved == 0:
                    raise RuntimeError(f"sequence {seq_id!r} grew past its reservation")
                seq.blocks.append(self.pool.allocate())
                seq.reserved -= 1
                self.reserved -= 1
            pos = np.arange(seq.length, end)
            table = np.asarray(seq.blocks)
            slots.append(table[pos // bs] * bs + pos % bs)
            positions.append(pos)
            ctx_lens.append(end)
            seq.tokens.extend(tokens)
            seq.new = len(tokens)
        lens = np.array([len(p) for p in positions])
        n, s, width = len(batch), int(lens.max()), max(ctx_lens)
        # query layout (n, s): token index in the flattened row; padding repeats token 0
        first = np.concatenate([[0], np.cumsum(lens)[:-1]])
        qpos = np.zeros((n, s), dtype=np.int64)
        qidx = np.zeros((n, s), dtype=np.int64)
        ctx = np.zeros((n, width), dtype=np.int64)
        for i, (seq_id, _) in enumerate(batch):
            qidx[i, :lens[i]] = first[i] + np.arange(lens[i])
            qpos[i, :lens[i]] = positions[i]
            table = np.asarray(self.seqs[seq_id].blocks)
            j = np.arange(ctx_lens[i])
            ctx[i, :ctx_lens[i]] = table[j // bs] * bs + j % bs
        keep = (np.arange(s)[None, :] < lens[:, None]).reshape(-1)
        self._step = {"ids": [seq_id for seq_id, _ in batch], "slots": np.concatenate(slots),
                      "positions": np.concatenate(positions), "qidx": qidx, "ctx": ctx,
                      "mask": ember.tensor((np.arange(width) <= qpos[:, :, None])[:, None]),
                      "keep": keep, "last": first + lens - 1}

    @property
    def last_token_index(self) -> np.ndarray:
        """Index, in the flattened step, of each sequence's last new token."""
        return self._step["last"]

    def positions(self, s: int) -> np.ndarray:
        """Position ids of the step's ``s`` flattened tokens."""
        pos = self._step["positions"]
        if len(pos) != s:
            raise ValueError(f"the step was scheduled for {len(pos)} tokens, the model got {s}")
        return pos

    def attend(self, layer: int, q: ember.Tensor, k: ember.Tensor, v: ember.Tensor,
               repeat_kv: int = 1) -> ember.Tensor:
        """Store the step's ``k``, ``v`` (1, heads, T, d) in the slots of their sequences
        and return each sequence's causal attention over its own keys, flattened
        (1, H, T, d)."""
        step = self._step
        k_np, v_np = k.numpy()[0].transpose(1, 0, 2), v.numpy()[0].transpose(1, 0, 2)
        if layer == len(self._keys):
            shape = (self.pool.num_blocks * self.block_size,) + k_np.shape[1:]
            self._keys.append(np.zeros(shape, dtype=k_np.dtype))
            self._values.append(np.zeros(shape, dtype=v_np.dtype))
        keys, values = self._keys[layer], self._values[layer]
        keys[step["slots"]] = k_np
        values[step["slots"]] = v_np
        ctx = step["ctx"]
        kk = ember.tensor(np.ascontiguousarray(keys[ctx].transpose(0, 2, 1, 3)))
        vv = ember.tensor(np.ascontiguousarray(values[ctx].transpose(0, 2, 1, 3)))
        n, s = step["qidx"].shape
        if n == 1:  # one sequence: the flattened row is its layout already
            return attention(q, kk, vv, step["mask"], repeat_kv=repeat_kv)
        qq = q.numpy()[0][:, step["qidx"]].transpose(1, 0, 2, 3)
        qq = ember.tensor(np.ascontiguousarray(qq))
        out = attention(qq, kk, vv, step["mask"], repeat_kv=repeat_kv).numpy()
        h, d = out.shape[1], out.shape[3]
        flat = out.transpose(1, 0, 2, 3).reshape(h, n * s, d)[:, step["keep"]]
        return ember.tensor(np.ascontiguousarray(flat[None]))

    def advance(self, s: int) -> None:
        """The step's keys and values are stored: count them, register full blocks."""
        for seq_id in self._step["ids"]:
            seq = self.seqs[seq_id]
            seq.length += seq.new
            full = seq.length // self.block_size
            if self.prefix_caching and full > len(seq.hashes):
                prev = seq.hashes[-1] if seq.hashes else 0
                for i, h in enumerate(self._hash_chain(seq.tokens, len(seq.hashes), full, prev),
                                      start=len(seq.hashes)):
                    self.pool.register(seq.blocks[i], h)
                    seq.hashes.append(h)
