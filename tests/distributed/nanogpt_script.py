"""nanoGPT's train.py DDP recipe, with ``import ember as torch`` in place of ``import torch``.

Run under the launcher (``RANK`` set: DDP) or as a plain script (one process); either way
the global batch of each iteration is the same ``gradient_accumulation_steps`` micro-batches,
split across ranks, so both runs must write the same checkpoint to ``out_dir``. The master
process prints the final validation loss as JSON. Float64 so the comparison can be tight.
"""

import json
import math
import os
import sys
from contextlib import nullcontext

import numpy as np

import ember as torch
import ember.nn as nn
from ember.distributed import destroy_process_group, init_process_group
from ember.nn import functional as F
from ember.nn.parallel import DistributedDataParallel as DDP

out_dir = sys.argv[1]
gradient_accumulation_steps = 4
batch_size, block_size, vocab_size, n_embd, n_head = 3, 8, 17, 16, 2
max_iters, learning_rate, grad_clip = 6, 3e-3, 1.0
backend = "gloo"  # what nanoGPT says on a CPU; ember runs it over MPI
torch.set_default_dtype(torch.float64)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(self.ln_1(x)).split(n_embd, dim=2)
        q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT

    def forward(self, idx, targets=None):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


ddp = int(os.environ.get("RANK", -1)) != -1
if ddp:
    init_process_group(backend=backend)
    ddp_rank = int(os.environ["RANK"])
    ddp_local_rank = int(os.environ["LOCAL_RANK"])
    ddp_world_size = int(os.environ["WORLD_SIZE"])
    master_process = ddp_rank == 0
    assert gradient_accumulation_steps % ddp_world_size == 0
    gradient_accumulation_steps //= ddp_world_size
else:
    ddp_rank, ddp_local_rank, ddp_world_size, master_process = 0, 0, 1, True
device, device_type = "cpu", "cpu"
ctx = nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type)

tokens = np.random.default_rng(0).integers(0, vocab_size, 500)


def get_batch(index):
    """The micro-batch with this global index (a rank-independent choice)."""
    ix = np.random.default_rng(index + 1).integers(0, len(tokens) - block_size, batch_size)
    x = torch.from_numpy(np.stack([tokens[i:i + block_size] for i in ix]))
    y = torch.from_numpy(np.stack([tokens[i + 1:i + 1 + block_size] for i in ix]))
    return x.to(device), y.to(device)


torch.manual_seed(1337)  # the same initial weights on every rank (DDP re-broadcasts anyway)
model = GPT().to(device)
scaler = torch.amp.GradScaler(device_type, enabled=False)
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.95),
                              weight_decay=0.1)
if ddp:
    model = DDP(model, device_ids=[ddp_local_rank])
raw_model = model.module if ddp else model

for iter_num in range(max_iters):
    lr = learning_rate * 0.5 * (1 + math.cos(math.pi * iter_num / max_iters))
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr
    first = (iter_num * ddp_world_size + ddp_rank) * gradient_accumulation_steps
    X, Y = get_batch(first)
    for micro_step in range(gradient_accumulation_steps):
        if ddp:
            model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
        with ctx:
            logits, loss = model(X, Y)
            loss = loss / gradient_accumulation_steps
        X, Y = get_batch(first + micro_step + 1)
        scaler.scale(loss).backward()
    if grad_clip != 0.0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)

if ddp:
    torch.distributed.barrier()
    checksum = torch.tensor([sum(p.sum().item() for p in raw_model.parameters())])
    spread = checksum.clone()
    torch.distributed.all_reduce(spread, op=torch.distributed.ReduceOp.MAX)
    torch.distributed.all_reduce(checksum, op=torch.distributed.ReduceOp.MIN)
    assert spread.item() == checksum.item(), "ranks hold different weights"
if master_process:
    model.eval()
    with torch.no_grad():
        _, val_loss = raw_model(*get_batch(10_000))
    torch.save({"model": raw_model.state_dict(), "iter_num": max_iters},
               os.path.join(out_dir, "ckpt.pt"))
    print(json.dumps({"val_loss": val_loss.item(), "world_size": ddp_world_size}), flush=True)
if ddp:
    destroy_process_group()
