"""Mutants of solutions/distributed.py: real mistakes the chapter 16 graders must catch."""

import torch.distributed as dist

from torchkata.mutants import mutant


@mutant("shard_indices", "contiguous blocks instead of interleaved indices")
def shard_indices(n, rank, world_size):
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(f"bad n, rank or world_size: {n}, {rank}, {world_size}")
    if n == 0:
        return []
    per_rank = -(-n // world_size)
    return [index % n for index in range(rank * per_rank, (rank + 1) * per_rank)]


@mutant("shard_indices", "overlapping shards: each block reaches one index into the next")
def shard_indices(n, rank, world_size):
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(f"bad n, rank or world_size: {n}, {rank}, {world_size}")
    per_rank = n // world_size
    return list(range(rank * per_rank, min((rank + 1) * per_rank + 1, n)))


@mutant("shard_indices", "no padding: ranks get unequal counts")
def shard_indices(n, rank, world_size):
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(f"bad n, rank or world_size: {n}, {rank}, {world_size}")
    return list(range(rank, n, world_size))


@mutant("shard_indices", "padded with index 0 instead of wrapping around")
def shard_indices(n, rank, world_size):
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(f"bad n, rank or world_size: {n}, {rank}, {world_size}")
    total = -(-n // world_size) * world_size
    padded = list(range(n)) + [0] * (total - n)
    return padded[rank:total:world_size]


@mutant("shard_indices", "wraps only once, too short when n < world_size")
def shard_indices(n, rank, world_size):
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(f"bad n, rank or world_size: {n}, {rank}, {world_size}")
    total = -(-n // world_size) * world_size
    indices = list(range(n))
    indices += indices[: total - n]
    return indices[rank:total:world_size]


@mutant("average_gradients_", "gradients summed but not divided by the world size")
def average_gradients_(model):
    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)


@mutant("average_gradients_", "all_reduce applied to a copy, so the result is thrown away")
def average_gradients_(model):
    world_size = dist.get_world_size()
    for param in model.parameters():
        if param.grad is not None:
            summed = param.grad.clone()
            dist.all_reduce(summed, op=dist.ReduceOp.SUM)
            param.grad.div_(world_size)


@mutant("average_gradients_", "parameters without a gradient not skipped")
def average_gradients_(model):
    world_size = dist.get_world_size()
    for param in model.parameters():
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad.div_(world_size)


@mutant("average_gradients_", "divided by the world size before the all_reduce and again after it")
def average_gradients_(model):
    world_size = dist.get_world_size()
    for param in model.parameters():
        if param.grad is not None:
            param.grad.div_(world_size)
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad.div_(world_size)


@mutant("ddp_train_step", "optimizer.step() before the gradients are averaged")
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


@mutant("ddp_train_step", "overlapping shares: each rank takes one row of the next share")
def ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer):
    inputs, targets = batch
    share = len(inputs) // world_size
    mine = slice(rank * share, (rank + 1) * share + 1)
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[mine]), targets[mine])
    loss.backward()
    average_gradients_(model)
    optimizer.step()
    return loss.item()


@mutant("ddp_train_step", "every rank computes on the whole batch (nothing is shared out)")
def ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    average_gradients_(model)
    optimizer.step()
    return loss.item()


@mutant("ddp_train_step", "no all_reduce: each rank steps on its own share")
def ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer):
    inputs, targets = batch
    share = len(inputs) // world_size
    mine = slice(rank * share, (rank + 1) * share)
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[mine]), targets[mine])
    loss.backward()
    optimizer.step()
    return loss.item()


@mutant("ddp_train_step", "zero_grad forgotten: gradients pile up from step to step")
def ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer):
    inputs, targets = batch
    share = len(inputs) // world_size
    mine = slice(rank * share, (rank + 1) * share)
    loss = loss_fn(model(inputs[mine]), targets[mine])
    loss.backward()
    average_gradients_(model)
    optimizer.step()
    return loss.item()
