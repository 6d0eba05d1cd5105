"""Realistic mistakes in chapter 12, optim, that the public checks alone must catch."""

import torch

from torchkata.mutants import mutant


@mutant("cross_entropy", "a naive softmax: exp overflows to inf for large logits and the loss becomes NaN")
def cross_entropy(logits, target, label_smoothing=0.0):
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    log_probs = torch.log(probs)
    true_class = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    uniform = -log_probs.mean(dim=1)
    return ((1.0 - label_smoothing) * true_class + label_smoothing * uniform).mean()


@mutant("SGDMomentum", "weight_decay is stored but never applied")
class SGDMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])


@mutant("bce_with_logits", "log(sigmoid(x)) written out: it is -inf for large |x| and the loss becomes inf or NaN")
def bce_with_logits(logits, target):
    s = torch.sigmoid(logits)
    return -(target * torch.log(s) + (1 - target) * torch.log(1 - s)).mean()
