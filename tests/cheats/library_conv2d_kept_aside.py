"""conv2d keeps torch's convolution in a default argument, out of reach of a patch on the module attribute."""

import torch

CHAPTER = "cnn"
KATA = "conv2d"
EXPECT = "nothing"


def conv2d(x, weight, bias=None, stride=1, padding=0, _library=torch.nn.functional.conv2d):
    return _library(x, weight, bias, stride=stride, padding=padding)
