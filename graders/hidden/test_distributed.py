"""Hidden checks for chapter 16, distributed: sharding against DistributedSampler, two gloo ranks against one process.

The rank checks fork two workers (torchkata.graderkit.ranks) that load the module under test from its file, join a
gloo process group on 127.0.0.1, run one scenario and send back what they hold. A worker that hangs is stopped after
12 s; the workers are always killed.
"""

import copy

import pytest
import torch
import torch._dynamo  # noqa: F401 - imported once here: each forked rank would import it again on its first optimizer step
from torch import nn
from torch.nn import functional as F
from torch.utils.data.distributed import DistributedSampler

from torchkata import checks
from torchkata.graderkit import differential, ranks

WORLD_SIZE = 2
LR = 0.1
CAN_FORK_GLOO = ranks.can_fork_gloo()


def run_ranks(impl, scenario, call):
    """scenario(module, rank, world_size) on WORLD_SIZE forked gloo ranks; the payloads, by rank."""
    return ranks.run_ranks(impl, scenario, call, WORLD_SIZE)


# ---------------------------------------------------------------- shard_indices


SHARD_SIZES = [0, 1, 2, 3, 5, 7, 10, 11, 16, 17, 33]
WORLD_SIZES = [1, 2, 3, 4, 5, 8]


@pytest.mark.kata("shard_indices")
@pytest.mark.points(3)
def test_shard_indices_match_distributed_sampler(impl):
    for n in SHARD_SIZES:
        for world_size in WORLD_SIZES:
            for rank in range(world_size):
                call = f"shard_indices({n}, {rank}, {world_size})"
                got = checks.call(call, impl.shard_indices, n, rank, world_size)
                want = list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False))
                checks.check(
                    isinstance(got, list) and all(type(index) is int for index in got),
                    f"{call} returned {checks.describe(got)}; expected a list of ints.",
                )
                checks.equal(
                    got, want, call,
                    "DistributedSampler pads the indices to a multiple of world_size by wrapping around to the "
                    "start, then gives rank the indices rank, rank + world_size, ... (interleaved, no overlap).",
                )


@pytest.mark.kata("shard_indices")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "args, name",
    [((10, 3, 3), "rank"), ((10, -1, 3), "rank"), ((10, 0, 0), "world_size"), ((-4, 0, 2), "n")],
    ids=["rank_too_large", "negative_rank", "world_size_0", "negative_n"],
)
def test_shard_indices_reject_bad_arguments(impl, args, name):
    valid = "shard_indices(10, 0, 3)"  # a valid call first: refusing every call earns nothing
    checks.equal(checks.call(valid, impl.shard_indices, 10, 0, 3), [0, 3, 6, 9], valid)
    call = f"shard_indices{args}"
    error = checks.raises(ValueError, lambda: impl.shard_indices(*args), call,
                          f"Raise ValueError naming {name} when it is out of range.")
    checks.check(name in str(error), f"{call} raised {error!r}; expected the message to name {name}.")


# ---------------------------------------------------------------- average_gradients_


class PartlyFrozen(nn.Module):
    """A trained Linear-Tanh-Linear, a frozen layer, and a layer forward never uses (its grad stays None)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 6)
        self.frozen = nn.Linear(6, 6)
        self.frozen.requires_grad_(False)
        self.last = nn.Linear(6, 3)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return self.last(self.frozen(torch.tanh(self.first(x))))


def _loss(model, x):
    return model(x).square().mean() + 0.1 * model(x).sum()


def _gradients_on(model, x):
    twin = copy.deepcopy(model)
    _loss(twin, x).backward()
    return [None if p.grad is None else p.grad.detach().clone() for p in twin.parameters()]


def _average_scenario(model, inputs):
    def scenario(impl, rank, world_size):
        _loss(model, inputs[rank]).backward()
        impl.average_gradients_(model)
        return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]

    return scenario


@pytest.mark.kata("average_gradients_")
@pytest.mark.points(3)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_average_gradients_gives_every_rank_the_mean(impl):
    model = PartlyFrozen()
    inputs = [torch.randn(5, 4), 3 * torch.randn(5, 4) + 1]
    per_rank = [_gradients_on(model, x) for x in inputs]
    call = "average_gradients_(model) after each rank's own backward"
    results = run_ranks(impl, _average_scenario(model, inputs), call)
    names = [name for name, _ in model.named_parameters()]
    for rank, grads in enumerate(results):
        for name, got, *mine in zip(names, grads, *per_rank, strict=True):
            if mine[0] is None:
                checks.check(got is None, f"after {call}, rank {rank}'s {name} has a gradient; expected None "
                             "(it is frozen or unused).", "Skip parameters whose .grad is None.")
                continue
            checks.tensor(got, f"rank {rank}'s {name}.grad after {call}")
            checks.close(
                got, (mine[0] + mine[1]) / WORLD_SIZE, f"rank {rank}'s {name}.grad after {call}",
                "all_reduce with ReduceOp.SUM adds the ranks' gradients; divide by dist.get_world_size() for the "
                "mean.", rtol=1e-5, atol=1e-6,
            )


# ---------------------------------------------------------------- ddp_train_step


def _mlp(features, outputs):
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, outputs))


CONFIGS = {
    "regression": (5, 3, 8, F.mse_loss),
    "classification": (4, 3, 12, F.cross_entropy),
}


def _batches(features, outputs, size, loss_fn, steps=2):
    batches = []
    for _ in range(steps):
        x = torch.randn(size, features)
        y = torch.randint(0, outputs, (size,)) if loss_fn is F.cross_entropy else torch.randn(size, outputs)
        batches.append((x, y))
    return batches


def _one_process(model, batches, loss_fn):
    """The parameters after each step of plain SGD with momentum on the whole batch."""
    twin = copy.deepcopy(model)
    optimizer = torch.optim.SGD(twin.parameters(), lr=LR, momentum=0.9)
    states = []
    for x, y in batches:
        optimizer.zero_grad()
        loss_fn(twin(x), y).backward()
        optimizer.step()
        states.append([p.detach().clone() for p in twin.parameters()])
    return states


def _ddp_scenario(model, batches, loss_fn):
    def scenario(impl, rank, world_size):
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
        seen = []
        model.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
        states, inputs = [], []
        for batch in batches:
            seen.clear()
            impl.ddp_train_step(rank, world_size, model, batch, loss_fn, optimizer)
            states.append([p.detach().clone() for p in model.parameters()])
            inputs.append(list(seen))
        return {"states": states, "inputs": inputs}

    return scenario


@pytest.mark.kata("ddp_train_step")
@pytest.mark.points(3)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_ddp_train_step_equals_one_process_on_the_whole_batch(impl, config):
    features, outputs, size, loss_fn = CONFIGS[config]
    model = _mlp(features, outputs)
    batches = _batches(features, outputs, size, loss_fn)
    expected = _one_process(model, batches, loss_fn)
    call = f"two ddp_train_step calls (SGD lr={LR}, momentum=0.9) with batches of {size}"
    results = run_ranks(impl, _ddp_scenario(model, batches, loss_fn), call)
    for step, want in enumerate(expected):
        for rank, result in enumerate(results):
            for index, (got, p) in enumerate(zip(result["states"][step], want, strict=True)):
                checks.close(
                    got, p, f"rank {rank}'s parameter {index} after step {step + 1} of {call}",
                    "Expected the parameters of one process stepping on the whole batch: average the gradients "
                    "(all_reduce SUM, then divide by world_size) before optimizer.step(), with disjoint equal "
                    "shares of the batch.", rtol=1e-4, atol=1e-6,
                )
        for index, (first, second) in enumerate(zip(results[0]["states"][step], results[1]["states"][step],
                                                    strict=True)):
            checks.close(second, first, f"rank 1's parameter {index} against rank 0's after step {step + 1}",
                         "Every rank must end the step with identical parameters.", rtol=1e-6, atol=1e-7)


@pytest.mark.kata("ddp_train_step")
@pytest.mark.points(2)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_ddp_train_step_each_rank_trains_on_its_own_share(impl):
    features, outputs, size, loss_fn = CONFIGS["regression"]
    model = _mlp(features, outputs)
    batches = _batches(features, outputs, size, loss_fn, steps=1)
    call = f"ddp_train_step(rank, {WORLD_SIZE}, model, batch of {size}, ...)"
    results = run_ranks(impl, _ddp_scenario(model, batches, loss_fn), call)
    shares = []
    for rank, result in enumerate(results):
        rows = result["inputs"][0]
        count = sum(len(r) for r in rows)
        checks.check(
            count == size // WORLD_SIZE,
            f"in {call}, rank {rank}'s model saw {count} rows; expected its share of {size // WORLD_SIZE}.",
            "Each rank computes the loss on its own 1/world_size of the batch; the all_reduce combines them.",
        )
        shares.append(torch.cat(rows))
    seen = sorted(map(tuple, torch.cat(shares).tolist()))
    checks.check(
        seen == sorted(map(tuple, batches[0][0].tolist())),
        f"in {call}, the ranks' shares together are not the batch: some rows were used twice or not at all.",
        "Give the ranks disjoint shares, e.g. rows rank * share to (rank + 1) * share.",
    )


# --- differential: every observable against the reference's recorded outcomes on generated cases ---------------


@differential.scenario(
    "shard_indices",
    cases=lambda st: st.fixed_dictionaries({"n": st.integers(0, 23), "world_size": st.integers(1, 9),
                                            "rank": st.none()}),
    edge=lambda: [
        {"n": 0, "world_size": 1, "rank": None}, {"n": 0, "world_size": 3, "rank": None},
        {"n": 1, "world_size": 4, "rank": None}, {"n": 2, "world_size": 7, "rank": None},  # wraps more than once
        {"n": 6, "world_size": 3, "rank": None}, {"n": 10, "world_size": 4, "rank": None},
        {"n": 5, "world_size": 1, "rank": None}, {"n": 9, "world_size": 8, "rank": None},
        {"n": -1, "world_size": 2, "rank": None}, {"n": 5, "world_size": 0, "rank": 0},
        {"n": 5, "world_size": -2, "rank": 0}, {"n": 10.0, "world_size": 2, "rank": 0},
        {"n": 10, "world_size": 2.0, "rank": 0}, {"n": 10, "world_size": 3, "rank": 1.0},
    ],
    count=40,
    call=lambda case: (f"shard_indices({case['n']!r}, rank, {case['world_size']!r}) for every rank from -1 to "
                       "world_size + 1" if case["rank"] is None else
                       f"shard_indices({case['n']!r}, {case['rank']!r}, {case['world_size']!r})"),
)
def shard_indices_outcome(impl, n, world_size, rank):
    ranks = range(-1, world_size + 2) if rank is None else (rank,)
    return {f"rank {r!r}": differential.attempt(impl.shard_indices, n, r, world_size) for r in ranks}


class _Classifier(nn.Module):
    """Linear-Tanh-Linear with a frozen layer between and a layer that forward never uses (its grad stays None)."""

    def __init__(self, features, classes):
        super().__init__()
        self.first = nn.Linear(features, 6)
        self.frozen = nn.Linear(6, 6)
        self.frozen.requires_grad_(False)
        self.last = nn.Linear(6, classes)
        self.unused = nn.Linear(classes, classes)

    def forward(self, x):
        return self.last(self.frozen(torch.tanh(self.first(x))))


def _state(model):
    """Every parameter and its gradient, by the grader's own names."""
    return {name: {"value": p.detach().clone(), "grad": None if p.grad is None else p.grad.detach().clone(),
                   "requires_grad": p.requires_grad} for name, p in model.named_parameters()}


def _by_rank(impl, scenario, world_size, call):
    payloads = ranks.run_ranks(impl, scenario, call, world_size)
    return {f"rank {rank}": payload for rank, payload in enumerate(payloads)}


@differential.scenario(
    "average_gradients_",
    edge=lambda: [{"world_size": 1, "dtype": torch.float32}, {"world_size": 3, "dtype": torch.float32},
                  {"world_size": 2, "dtype": torch.float64}],
    call=lambda case: (f"average_gradients_(model) on {case['world_size']} gloo ranks after each rank's own backward "
                       f"({str(case['dtype'])[6:]} model with a frozen and an unused layer), then "
                       "average_gradients_(list(model.parameters()))"),
)
def average_gradients_outcome(impl, world_size, dtype):
    model = _Classifier(4, 3).to(dtype)
    inputs = [torch.randn(5, 4, dtype=dtype) * (rank + 1) + rank for rank in range(world_size)]

    def scenario(module, rank, world_size):
        _loss(model, inputs[rank]).backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        returned = differential.attempt(module.average_gradients_, model)
        seen = {"the call": returned if differential.is_raised(returned) else "returned"}
        seen["parameters"] = _state(model)
        seen["each .grad updated in place"] = {
            name: p.grad is grads[name] for name, p in model.named_parameters() if grads[name] is not None}
        seen["given a list of parameters"] = differential.attempt(module.average_gradients_, list(model.parameters()))
        return seen

    return _by_rank(impl, scenario, world_size, "average_gradients_(model)")


def _ddp_experiments(world_size):
    """(name, model, optimizer factory, loss, batches, stale gradients) tried one after the other on every rank."""
    size = 2 * world_size
    regression = _mlp(5, 3)
    x, y = torch.randn(2, size, 5), torch.randn(2, size, 3)
    classifier = _Classifier(4, 3).double()
    xc, yc = torch.randn(2, size, 4, dtype=torch.float64), torch.randint(0, 3, (2, size))
    found = [
        ("mse, SGD with Nesterov momentum and weight decay, float32", regression,
         lambda params: torch.optim.SGD(params, lr=LR, momentum=0.9, nesterov=True, weight_decay=0.01),
         F.mse_loss, [(x[0], y[0]), (x[1], y[1])], False),
        ("cross-entropy, AdamW, float64, a frozen and an unused layer, stale gradients before the call", classifier,
         lambda params: torch.optim.AdamW(params, lr=0.05, weight_decay=0.1),
         F.cross_entropy, [(xc[0], yc[0]), (xc[1], yc[1])], True),
    ]
    if world_size > 1:
        found.append(("a batch of 2 * world_size + 1 rows", _mlp(5, 3), lambda params: torch.optim.SGD(params, lr=LR),
                      F.mse_loss, [(torch.randn(size + 1, 5), torch.randn(size + 1, 3))], False))
    return found


def _ddp_rank_scenario(experiments):
    def scenario(module, rank, world_size):
        seen = {}
        for name, model, make_optimizer, loss_fn, batches, stale in experiments:
            if stale:
                with torch.no_grad():
                    for p in model.parameters():
                        if p.requires_grad and p is not model.unused.weight and p is not model.unused.bias:
                            p.grad = torch.full_like(p, 0.5)
            optimizer = make_optimizer(model.parameters())
            steps = []
            for inputs, targets in batches:
                before = (inputs.clone(), targets.clone())
                loss = differential.attempt(module.ddp_train_step, rank, world_size, model, (inputs, targets), loss_fn,
                                optimizer)
                steps.append({"loss": loss, "parameters": {n: p.detach().clone() for n, p in model.named_parameters()},
                              "batch unchanged": torch.equal(before[0], inputs) and torch.equal(before[1], targets)})
            seen[name] = steps
        return seen

    return scenario


def _loss_summary(losses):
    """The ranks' losses: each a float, and their mean (the whole batch's loss); shares may differ by style."""
    floats = all(type(loss) is float for loss in losses)
    return {"types": [loss if differential.is_raised(loss) else type(loss).__name__ for loss in losses],
            "mean over the ranks": sum(losses) / len(losses) if floats else None}


@differential.scenario(
    "ddp_train_step",
    edge=lambda: [{"world_size": 1}, {"world_size": 2}, {"world_size": 3}],
    call=lambda case: f"two ddp_train_step calls on {case['world_size']} gloo ranks for each of several setups",
)
def ddp_train_step_outcome(impl, world_size):
    experiments = _ddp_experiments(world_size)
    by_rank = ranks.run_ranks(impl, _ddp_rank_scenario(experiments), "ddp_train_step", world_size)
    seen = {}
    for name, *_ in experiments:
        steps = []
        for step in range(len(by_rank[0][name])):
            per_rank = [payload[name][step] for payload in by_rank]
            steps.append({
                "losses": _loss_summary([entry["loss"] for entry in per_rank]),
                **{f"rank {rank}'s parameters": entry["parameters"] for rank, entry in enumerate(per_rank)},
                "batch unchanged": [entry["batch unchanged"] for entry in per_rank]})
        seen[name] = steps
    return seen


@pytest.mark.kata("shard_indices")
@pytest.mark.points(2)
def test_shard_indices_agrees_with_the_reference_on_generated_cases(impl):
    shard_indices_outcome.check(impl)


@pytest.mark.kata("average_gradients_")
@pytest.mark.points(2)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_average_gradients_agrees_with_the_reference_on_one_two_and_three_ranks(impl):
    average_gradients_outcome.check(impl)


@pytest.mark.kata("ddp_train_step")
@pytest.mark.points(3)
@pytest.mark.skipif(not CAN_FORK_GLOO, reason=ranks.NEEDS_FORK_GLOO)
def test_ddp_train_step_agrees_with_the_reference_on_one_two_and_three_ranks(impl):
    ddp_train_step_outcome.check(impl)
