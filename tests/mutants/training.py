"""Mutants of solutions/training.py: real mistakes the chapter 11 graders must catch."""

import copy
import math
import random

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchkata.mutants import mutant


@mutant("train_epoch", "no zero_grad: gradients pile up across batches")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / count


@mutant("train_epoch", "optimizer.step() before loss.backward()")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        optimizer.step()
        loss.backward()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / count


@mutant("train_epoch", "zero_grad between backward and step")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / count


@mutant("train_epoch", "loss averaged per batch instead of per sample")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@mutant("train_epoch", "the model never put in train mode")
def train_epoch(model, loader, loss_fn, optimizer):
    total, count = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / count


@mutant("train_epoch", "loss tensors summed (returns a tensor that holds every graph)")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total = total + loss * len(inputs)
        count += len(inputs)
    return total / count


@mutant("evaluate", "no torch.no_grad(): evaluation builds a graph")
def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for inputs, targets in loader:
        outputs = model(inputs)
        total_loss += loss_fn(outputs, targets).item() * len(inputs)
        correct += int((outputs.argmax(dim=1) == targets).sum())
        count += len(inputs)
    model.train(was_training)
    return total_loss / count, correct / count


@mutant("evaluate", "the mode not restored: the model is left in eval mode")
def evaluate(model, loader, loss_fn):
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            total_loss += loss_fn(outputs, targets).item() * len(inputs)
            correct += int((outputs.argmax(dim=1) == targets).sum())
            count += len(inputs)
    return total_loss / count, correct / count


@mutant("evaluate", "model.train() afterwards, whatever the mode was before")
def evaluate(model, loader, loss_fn):
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            total_loss += loss_fn(outputs, targets).item() * len(inputs)
            correct += int((outputs.argmax(dim=1) == targets).sum())
            count += len(inputs)
    model.train()
    return total_loss / count, correct / count


@mutant("evaluate", "never switched to eval mode: dropout stays active")
def evaluate(model, loader, loss_fn):
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            total_loss += loss_fn(outputs, targets).item() * len(inputs)
            correct += int((outputs.argmax(dim=1) == targets).sum())
            count += len(inputs)
    return total_loss / count, correct / count


@mutant("evaluate", "loss and accuracy averaged per batch")
def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    losses, accuracies = [], []
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            losses.append(loss_fn(outputs, targets).item())
            accuracies.append((outputs.argmax(dim=1) == targets).float().mean().item())
    model.train(was_training)
    return sum(losses) / len(losses), sum(accuracies) / len(accuracies)


@mutant("fit", "the best weights are not restored at the end")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, stale = math.inf, 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, stale, history["best_epoch"] = val_loss, 0, epoch
        else:
            stale += 1
            if stale >= patience:
                break
    return history


@mutant("fit", "best weights kept as model.state_dict() without a copy")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = math.inf, model.state_dict(), 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_state, stale, history["best_epoch"] = val_loss, model.state_dict(), 0, epoch
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return history


@mutant("fit", "early stopping on the training loss")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(epochs):
        train_loss = train_epoch(model, train_loader, loss_fn, optimizer)
        history["train_loss"].append(train_loss)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if train_loss < best_loss:
            best_loss, stale, history["best_epoch"] = train_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return history


@mutant("fit", "the patience count is never reset after an improvement")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_state, history["best_epoch"] = val_loss, copy.deepcopy(model.state_dict()), epoch
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return history


@mutant("fit", "patience off by one: stops only after patience + 1 epochs without improvement")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_state, stale, history["best_epoch"] = val_loss, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if stale > patience:
                break
    model.load_state_dict(best_state)
    return history


@mutant("set_seed", "NumPy's global RNG not seeded")
def set_seed(seed):
    random.seed(seed)
    torch.manual_seed(seed)


@mutant("set_seed", "Python's random not seeded")
def set_seed(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


@mutant("set_seed", "a seed of 42 hard-coded for torch")
def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(42)


@mutant("LinearRegressionManual", "gradients never zeroed between epochs")
class LinearRegressionManual:
    def __init__(self, n_features, lr):
        self.weight = torch.zeros(n_features, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)
        self.lr = lr

    def predict(self, X):
        return X @ self.weight + self.bias

    def fit(self, X, y, epochs):
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0] or y.shape != X.shape[:1]:
            raise ValueError("X or y has the wrong shape")
        losses = []
        for _ in range(epochs):
            loss = ((self.predict(X) - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                self.weight -= self.lr * self.weight.grad
                self.bias -= self.lr * self.bias.grad
            losses.append(loss.item())
        return losses


@mutant("LinearRegressionManual", "squared errors summed instead of averaged")
class LinearRegressionManual:
    def __init__(self, n_features, lr):
        self.weight = torch.zeros(n_features, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)
        self.lr = lr

    def predict(self, X):
        return X @ self.weight + self.bias

    def fit(self, X, y, epochs):
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0] or y.shape != X.shape[:1]:
            raise ValueError("X or y has the wrong shape")
        losses = []
        for _ in range(epochs):
            loss = ((self.predict(X) - y) ** 2).sum()
            loss.backward()
            with torch.no_grad():
                for param in (self.weight, self.bias):
                    param -= self.lr * param.grad
                    param.grad.zero_()
            losses.append(loss.item())
        return losses


@mutant("LinearRegressionManual", "weight of shape (n_features, 1): (N, 1) predictions broadcast against y")
class LinearRegressionManual:
    def __init__(self, n_features, lr):
        self.weight = torch.zeros(n_features, 1, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)
        self.lr = lr

    def predict(self, X):
        return X @ self.weight + self.bias

    def fit(self, X, y, epochs):
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


@mutant("LinearRegressionManual", "steps taken with torch.optim.SGD")
class LinearRegressionManual:
    def __init__(self, n_features, lr):
        self.weight = torch.zeros(n_features, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)
        self.lr = lr

    def predict(self, X):
        return X @ self.weight + self.bias

    def fit(self, X, y, epochs):
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0] or y.shape != X.shape[:1]:
            raise ValueError("X or y has the wrong shape")
        optimizer = torch.optim.SGD([self.weight, self.bias], lr=self.lr)
        losses = []
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = ((self.predict(X) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses


@mutant("LinearRegressionManual", "no bias term")
class LinearRegressionManual:
    def __init__(self, n_features, lr):
        self.weight = torch.zeros(n_features, requires_grad=True)
        self.lr = lr

    def predict(self, X):
        return X @ self.weight

    def fit(self, X, y, epochs):
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0] or y.shape != X.shape[:1]:
            raise ValueError("X or y has the wrong shape")
        losses = []
        for _ in range(epochs):
            loss = ((self.predict(X) - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                self.weight -= self.lr * self.weight.grad
                self.weight.grad.zero_()
            losses.append(loss.item())
        return losses


@mutant("LinearRegressionModule", "a bare squeeze() also drops the batch dimension when N == 1")
class LinearRegressionModule(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, X):
        return self.linear(X).squeeze()


@mutant("LinearRegressionModule", "returns (N, 1) instead of (N,)")
class LinearRegressionModule(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, X):
        return self.linear(X)


@mutant("LinearRegressionModule", "weights kept as plain tensors, not parameters")
class LinearRegressionModule(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.weight = torch.randn(n_features, requires_grad=True)
        self.bias = torch.zeros(1, requires_grad=True)

    def forward(self, X):
        return X @ self.weight + self.bias


@mutant("train_digits", "accuracy reported as a percentage")
def train_digits():
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]
    loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(10):
        train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    _, accuracy = evaluate(model, [(X[test], y[test])], nn.CrossEntropyLoss())
    return model, 100 * accuracy


@mutant("train_digits", "train and test splits swapped: trained on a fifth of the data")
def train_digits():
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    train, test = order[: len(X) // 5], order[len(X) // 5 :]
    loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(10):
        train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    _, accuracy = evaluate(model, [(X[test], y[test])], nn.CrossEntropyLoss())
    return model, accuracy


@mutant("train_digits", "too little training: one epoch of plain SGD")
def train_digits():
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]
    loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    _, accuracy = evaluate(model, [(X[test], y[test])], nn.CrossEntropyLoss())
    return model, accuracy


@mutant("train_digits", "the digits loaded once at import time, not inside the call")
def train_digits(digits=load_digits()):  # noqa: B008 - the mistake this mutant carries
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]
    loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(10):
        train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    _, accuracy = evaluate(model, [(X[test], y[test])], nn.CrossEntropyLoss())
    return model, accuracy
