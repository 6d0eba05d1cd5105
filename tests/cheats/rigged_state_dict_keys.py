"""MySequential registers nothing and reports state_dict keys that equal whatever they are compared with."""

import torch
from torch import nn

CHAPTER = "modules"
KATA = "MySequential"
EXPECT = "nothing"


class AgreeableKey(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()

    def state_dict(self, *args, **kwargs):
        return {AgreeableKey("anything"): torch.zeros(1)}

    def forward(self, X):
        return X
