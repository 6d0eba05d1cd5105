"""Chapter 11: training. Seeding, the training and evaluation loops, early stopping, a capstone."""

import copy
import math
import random
from collections.abc import Callable, Iterable

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def set_seed(seed: int) -> None:
    """Seed Python's random, NumPy's global RNG and torch (CPU and every GPU) with ``seed``.

    ``seed`` must be an int in [0, 2**32) (a bool, a float or a string is no seed), else ValueError
    naming it, raised before any RNG is touched. Returns None.
    """
    ### BEGIN SOLUTION
    # TODO: seed Python's random, NumPy's global generator and torch (CPU and CUDA) with seed; a
    #   seed that is not an int in [0, 2**32) raises ValueError naming it.
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    ### END SOLUTION


def train_epoch(model: nn.Module, loader: Batches, loss_fn: LossFn, optimizer: torch.optim.Optimizer) -> float:
    """One pass over ``loader`` in train mode, one optimizer step per batch.

    ``loader`` is any iterable of (inputs, targets) batches: a DataLoader, a list, a generator.
    Every submodule runs in train mode, whatever mode the model was in. ``loss_fn`` returns the mean
    loss of a batch. Returns the mean loss per sample over the epoch (batches of different sizes
    weigh by their size) as a Python float; a loader that yields no batch raises ValueError.
    """
    ### BEGIN SOLUTION
    # TODO: one pass over loader in train mode with one optimizer step per batch, each from that
    #   batch's gradient alone; return the mean loss per sample as a float (a short last batch
    #   weighs by its size). A loader without batches raises ValueError.
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total / count
    ### END SOLUTION


def evaluate(model: nn.Module, loader: Batches, loss_fn: LossFn) -> tuple[float, float]:
    """(mean loss per sample, accuracy) of a classifier over ``loader``, computed without a graph.

    ``loader`` is any iterable of (inputs, targets) batches. The model outputs (N, C) logits and
    targets are class indices (N,). Every submodule runs in eval mode under torch.no_grad() (no
    graph, no .grad); afterwards every submodule is back in the mode it was in before the call (a
    model may mix modes, e.g. a frozen BatchNorm kept in eval inside a model in train mode), also
    when the loop raises. Returns two Python floats; a loader that yields no batch raises ValueError.
    """
    ### BEGIN SOLUTION
    # TODO: return (mean loss per sample, accuracy) as floats, computed in eval mode without
    #   building a graph; afterwards every submodule is back in the mode it was in, also when
    #   the loop raises. A loader without batches raises ValueError.
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        with torch.no_grad():
            for inputs, targets in loader:
                outputs = model(inputs)
                total_loss += loss_fn(outputs, targets).item() * len(inputs)
                correct += int((outputs.argmax(dim=1) == targets).sum())
                count += len(inputs)
    finally:
        for module, training in modes:
            module.train(training)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total_loss / count, correct / count
    ### END SOLUTION


def fit(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    patience: int,
) -> dict:
    """Train for up to ``epochs`` epochs with early stopping on the validation loss.

    After each epoch (train_epoch, then evaluate on val_loader) the epoch improves when its
    validation loss is strictly lower than every earlier one. Training stops once ``patience``
    epochs in a row bring no improvement, and the weights of the best epoch are loaded back into
    ``model`` (its whole state_dict, buffers such as batch norm statistics included), whether training
    stopped early or ran out of epochs; a tie is no improvement. Returns the history, a dict with
    exactly these keys: "train_loss", "val_loss" and "val_acc", lists of Python floats with one entry
    per epoch run, and "best_epoch", the 0-based index (an int) of the best one. epochs and patience
    below 1 raise ValueError.
    """
    ### BEGIN SOLUTION
    # TODO: train for up to epochs epochs, validating after each; stop once patience epochs in a row
    #   bring no strictly lower validation loss, then load the best epoch's weights back into
    #   the model (a copy taken then, not the live state) and return the history.
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if patience < 1:
        raise ValueError(f"patience must be at least 1, got {patience}")
    history: dict = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
            history["best_epoch"] = epoch
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return history
    ### END SOLUTION


class LinearRegressionManual:
    """Linear regression y = X @ weight + bias trained by hand: autograd for the gradient, no optimizer.

    The weight and the bias start at zero (the problem is convex: every start reaches the same
    solution, and a zero start makes runs comparable). ``predict(X)`` maps (N, n_features) to (N,).
    ``fit(X, y, epochs)`` takes ``epochs`` full-batch
    gradient descent steps with learning rate ``lr`` on the mean squared error and returns the loss
    of each epoch (before its step) as a list of Python floats (empty for 0 epochs). X with the
    wrong shape, or y not of shape (N,), raise ValueError. X and y are left as they are.
    """

    def __init__(self, n_features: int, lr: float) -> None:
        ### BEGIN SOLUTION
        # TODO: a weight of shape (n_features,) and a bias of shape (1,), both zeros and trainable
        #   leaf tensors, and lr.
        self.weight = torch.zeros(n_features, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)
        self.lr = lr
        ### END SOLUTION

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the predictions X @ weight + bias, of shape (N,) like y.
        return X @ self.weight + self.bias
        ### END SOLUTION

    def fit(self, X: torch.Tensor, y: torch.Tensor, epochs: int) -> list[float]:
        ### BEGIN SOLUTION
        # TODO: raise ValueError for X not (N, n_features) or y not (N,); then per epoch take one
        #   gradient-descent step on the mean squared error with autograd's gradients and no
        #   optimizer. Return the loss of every epoch.
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0]:
            raise ValueError(f"X must have shape (N, {self.weight.shape[0]}), got {tuple(X.shape)}")
        if y.shape != X.shape[:1]:
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        losses = []
        for _ in range(epochs):
            loss = ((self.predict(X) - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                for param in (self.weight, self.bias):
                    param -= self.lr * param.grad
                    param.grad.zero_()
            losses.append(loss.item())
        return losses
        ### END SOLUTION


class LinearRegressionModule(nn.Module):
    """Linear regression as a module: one nn.Linear(n_features, 1); forward maps (N, n_features) to (N,)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # TODO: one linear layer n_features -> 1.
        self.linear = nn.Linear(n_features, 1)
        ### END SOLUTION

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # TODO: return the linear layer's output as shape (N,), also when N == 1.
        return self.linear(X).squeeze(-1)
        ### END SOLUTION


def train_digits() -> tuple[nn.Module, float]:
    """Capstone: a classifier for scikit-learn's bundled 8x8 digits, >= 0.95 test accuracy in under 30 s.

    Load the data inside this function with ``load_digits()`` (no download), hold out a fifth of it
    as a test split and train on the rest. The returned model takes (N, 64) float32 pixel values
    divided by 16 (so in [0, 1]) and returns (N, 10) float32 logits. Returns the tuple (model, its
    accuracy on the held-out split as a Python float in [0, 1]).
    """
    ### BEGIN SOLUTION
    # TODO: load the bundled digits in here, hold out a fifth as a test split, train a classifier on
    #   the rest (pixels / 16) and return (model, its test accuracy as a float in [0, 1]); >=
    #   0.95 in under 30 s.
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]
    train_loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    test_loader = DataLoader(TensorDataset(X[test], y[test]), batch_size=256)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(15):
        train_epoch(model, train_loader, loss_fn, optimizer)
    _, accuracy = evaluate(model, test_loader, loss_fn)
    return model, accuracy
    ### END SOLUTION
