"""conv2d returns zeros of the right shape: nothing to differentiate, so gradcheck alone would see no mismatch."""

import torch

CHAPTER = "cnn"
KATA = "conv2d"
EXPECT = "nothing"


def conv2d(x, weight, bias=None, stride=1, padding=0):
    height = (x.shape[2] + 2 * padding - weight.shape[2]) // stride + 1
    width = (x.shape[3] + 2 * padding - weight.shape[3]) // stride + 1
    return torch.zeros(x.shape[0], weight.shape[0], height, width, dtype=x.dtype)
