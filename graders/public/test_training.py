"""Public checks for chapter 11, training: steps against a hand-written loop, early stopping, the capstone.

The hidden checks add mixed modes, graph-free evaluation, patience counting, generated runs, the capstone on
unseen digits within its time limit, and bad arguments.
"""

import copy
import numbers
import random

import numpy as np
import pytest
import sklearn.datasets
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from torchkata import checks

# train_digits may take up to 30 s (its docstring); a check of it stops at twice that.
TRAINING_SECONDS = 60


def _is_float(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _data(n=8, features=3, classes=2):
    return torch.randn(n, features), torch.randint(0, classes, (n,))


@pytest.mark.kata("set_seed")
@pytest.mark.points(1)
def test_set_seed_repeats_draws(impl):
    draws = []
    for _ in range(2):
        checks.call("set_seed(3)", impl.set_seed, 3)
        draws.append((random.random(), float(np.random.rand()), torch.rand(2).tolist()))
    checks.check(
        draws[0] == draws[1],
        f"the draws (random, numpy, torch) after set_seed(3) were {draws[0]} and then {draws[1]}; expected the "
        "same draws after the same seed.",
        "Seed all three: random.seed, np.random.seed and torch.manual_seed.",
    )


@pytest.mark.kata("train_epoch")
@pytest.mark.points(1)
def test_train_epoch_returns_float_and_trains(impl):
    X, y = _data()
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    call = "train_epoch(model, loader, cross_entropy, SGD(lr=0.1))"
    loss = checks.call(
        call, impl.train_epoch, model, DataLoader(TensorDataset(X, y), batch_size=4), F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
    )
    checks.check(_is_float(loss), f"{call} returned {checks.describe(loss)}; expected a Python float.",
                 "Accumulate loss.item(), a float, not the loss tensor.")
    checks.check(not torch.equal(before, model.weight.detach()), f"{call} left the weights unchanged.",
                 "Call loss.backward() and then optimizer.step() for every batch.")


def _sgd_epoch_(model, batches, lr):
    """One epoch of plain SGD written out: zero the grads, backward, step; the mean loss per sample."""
    total, count = 0.0, 0
    for inputs, targets in batches:
        model.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        total, count = total + loss.item() * len(inputs), count + len(inputs)
    return total / count


@pytest.mark.kata("train_epoch")
@pytest.mark.points(1)
def test_train_epoch_matches_a_written_out_epoch(impl):
    X, y = _data(10)
    model = nn.Linear(3, 2)
    twin = copy.deepcopy(model)
    batches = [(X[:4], y[:4]), (X[4:8], y[4:8]), (X[8:], y[8:])]
    call = "train_epoch(model, batches of 4, 4 and 2 samples, cross_entropy, SGD(lr=0.5))"
    optimizer = torch.optim.SGD(model.parameters(), 0.5)
    loss = checks.call(call, impl.train_epoch, model, batches, F.cross_entropy, optimizer)
    want = _sgd_epoch_(twin, batches, 0.5)
    for (name, got), expected in zip(model.named_parameters(), twin.parameters(), strict=True):
        checks.close(
            got.detach(), expected.detach(), f"model.{name} after {call}",
            "Call optimizer.zero_grad() before each backward(): gradients add up across batches otherwise.",
            rtol=1e-5, atol=1e-6,
        )
    checks.check(
        _is_float(loss) and abs(loss - want) <= 1e-5 * max(1.0, abs(want)),
        f"{call} returned {checks.describe(loss)}; expected {want:.6g}, the mean loss per sample.",
        "Weigh each batch's loss by its size (loss.item() * len(inputs)) and divide by the number of samples.",
    )


@pytest.mark.kata("evaluate")
@pytest.mark.points(1)
def test_evaluate_returns_loss_and_accuracy(impl):
    X, y = _data()
    model = nn.Linear(3, 2)
    call = "evaluate(model, loader, cross_entropy)"
    result = checks.call(call, impl.evaluate, model, DataLoader(TensorDataset(X, y), batch_size=4), F.cross_entropy)
    checks.check(
        isinstance(result, tuple) and len(result) == 2 and all(_is_float(v) for v in result)
        and 0.0 <= result[1] <= 1.0,
        f"{call} returned {checks.describe(result)}; expected a tuple of two floats (mean loss, accuracy in [0, 1]).",
    )
    checks.check(model.training, f"after {call} the model is in eval mode; expected train mode, as before the call.",
                 "Restore the previous mode at the end: model.train(was_training).")


@pytest.mark.kata("evaluate")
@pytest.mark.points(1)
def test_evaluate_builds_no_graph(impl):
    X, y = _data()
    model = nn.Linear(3, 2)
    graphs = []

    def loss_fn(outputs, targets):
        graphs.append(outputs.requires_grad)
        return F.cross_entropy(outputs, targets)

    call = "evaluate(model, loader, loss_fn)"
    checks.call(call, impl.evaluate, model, DataLoader(TensorDataset(X, y), batch_size=4), loss_fn)
    checks.check(
        graphs and not any(graphs),
        f"{call} gave loss_fn outputs that require grad in {sum(graphs)} of {len(graphs)} batches; expected "
        "no autograd graph at all during evaluation.",
        "Run the loop inside torch.no_grad().",
    )


@pytest.mark.kata("fit")
@pytest.mark.points(1)
def test_fit_returns_history(impl):
    X, y = _data(12)
    model = nn.Linear(3, 2)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    call = "fit(model, loader, loader, cross_entropy, SGD(lr=0.1), epochs=3, patience=5)"
    history = checks.call(
        call, impl.fit, model, loader, loader, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1), 3, 5
    )
    checks.check(isinstance(history, dict), f"{call} returned {checks.describe(history)}; expected a dict.")
    for key in ("train_loss", "val_loss"):
        checks.check(
            len(history.get(key, [])) == 3,
            f"history[{key!r}] of {call} is {checks.describe(history.get(key))}; expected a list of 3 losses, "
            "one per epoch.",
        )


@pytest.mark.kata("fit")
@pytest.mark.points(1)
def test_fit_restores_the_best_weights(impl):
    X = torch.randn(16, 2)
    y = (X[:, 0] - X[:, 1] > 0).long()
    model = nn.Linear(2, 2)
    twin = copy.deepcopy(model)
    train_loader = DataLoader(TensorDataset(X, y), batch_size=8)
    val_loader = DataLoader(TensorDataset(X, 1 - y), batch_size=8)  # learning the train labels hurts here
    call = "fit(model, train_loader, val_loader, cross_entropy, SGD(lr=0.5), epochs=4, patience=5)"
    story = f"{call}, where the validation loss rises every epoch after the first"
    history = checks.call(
        call, impl.fit, model, train_loader, val_loader, F.cross_entropy, torch.optim.SGD(model.parameters(), 0.5),
        4, 5,
    )
    checks.check(isinstance(history, dict), f"{call} returned {checks.describe(history)}; expected a dict.")
    _sgd_epoch_(twin, train_loader, 0.5)  # the best epoch is the first
    for (name, got), expected in zip(model.named_parameters(), twin.parameters(), strict=True):
        checks.close(
            got.detach(), expected.detach(), f"model.{name} after {story}",
            "Load the best epoch's weights back at the end, from a copy: copy.deepcopy(model.state_dict()) (a bare "
            "state_dict() follows the live weights).", rtol=1e-5, atol=1e-6,
        )


@pytest.mark.kata("LinearRegressionManual")
@pytest.mark.points(1)
def test_linear_regression_manual_fits_a_line(impl):
    X = torch.randn(64, 3)
    y = X @ torch.tensor([1.5, -2.0, 0.5]) + 0.3
    model = checks.call("LinearRegressionManual(3, lr=0.1)", impl.LinearRegressionManual, 3, 0.1)
    checks.call("LinearRegressionManual(3, lr=0.1).fit(X, y, 300)", model.fit, X, y, 300)
    out = checks.call("predict(X) after fit(X, y, 300)", model.predict, X)
    checks.close(out.detach(), y, "LinearRegressionManual(3, lr=0.1).predict(X) after fit on noiseless data",
                 "300 gradient steps with lr=0.1 should fit y = X @ [1.5, -2, 0.5] + 0.3.", rtol=1e-3, atol=1e-3)


@pytest.mark.kata("LinearRegressionModule")
@pytest.mark.points(1)
def test_linear_regression_module_shape(impl):
    model = checks.call("LinearRegressionModule(3)", impl.LinearRegressionModule, 3)
    checks.parameter_count(model, 4, "LinearRegressionModule(3)", "One nn.Linear(3, 1): 3 weights and a bias.")
    out = checks.call("LinearRegressionModule(3)(x)", model, torch.randn(5, 3))
    checks.shape(out, (5,), "LinearRegressionModule(3)(x) with x of shape (5, 3)", "Squeeze the last dimension.")


def _device_of(model):
    return next(iter(model.parameters()), torch.empty(0)).device


@pytest.mark.kata("train_digits")
@pytest.mark.points(1)
@pytest.mark.timeout(TRAINING_SECONDS)  # the capstone trains for seconds: the usual per-check limit is too short
def test_train_digits_returns_a_digit_classifier(impl):
    result = checks.call("train_digits()", impl.train_digits)
    checks.check(
        isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)
        and _is_float(result[1]),
        f"train_digits() returned {checks.describe(result)}; expected a tuple (nn.Module, float accuracy).",
    )
    digits = sklearn.datasets.load_digits()
    x = torch.tensor(digits.data[:5], dtype=torch.float32) / 16
    model = result[0].eval()
    with torch.no_grad():
        out = checks.call("model(x)", model, x.to(_device_of(model)))
    checks.shape(out, (5, 10), "the model of train_digits() on x of shape (5, 64)", "One logit per digit class.")
    reported = float(result[1])
    checks.check(
        0.95 <= reported <= 1.0,
        f"train_digits() reported the accuracy {reported!r}; expected a fraction in [0, 1], at least 0.95.",
        "Report the accuracy on your held-out split as a fraction (correct / total), not a percentage.",
    )
