"""Realistic mistakes in chapter 16, distributed, that the public checks alone must catch."""

import torch.distributed as dist

from torchkata.mutants import mutant


@mutant("average_gradients_", "all_reduce sums the gradients but nothing divides by the world size")
def average_gradients_(model):
    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)


@mutant("ddp_train_step", "optimizer.step() before the gradients are averaged: the ranks drift apart")
def ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer):
    inputs, targets = batch
    share = len(inputs) // world_size
    mine = slice(rank * share, (rank + 1) * share)
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[mine]), targets[mine])
    loss.backward()
    optimizer.step()
    average_gradients_(model)
    return loss.item()


@mutant("shard_indices", "contiguous blocks per rank instead of every world_size-th index")
def shard_indices(n, rank, world_size):
    per_rank = -(-n // world_size)
    return [index % n for index in range(rank * per_rank, (rank + 1) * per_rank)]
