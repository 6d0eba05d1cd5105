"""Chapter 15 solved in other styles: explicit kernel loops instead of unfold, raw parameters."""

import math

import torch
from torch import nn
from torch.nn import functional as F


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    limits = [("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0),
              ("dilation", dilation, 1)]
    for name, v, lo in limits:
        if type(v) is not int:
            raise TypeError(f"{name} must be an int")
        if v < lo:
            raise ValueError(f"bad {name}")
    out = math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1)
    if out < 1:
        raise ValueError("kernel too large for the input")
    return int(out)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Parameter(torch.randn(32, 1, 3, 3) * 0.1)
        self.c1b = nn.Parameter(torch.zeros(32))
        self.c2 = nn.Parameter(torch.randn(64, 32, 3, 3) * 0.05)
        self.c2b = nn.Parameter(torch.zeros(64))
        self.f1 = nn.Parameter(torch.randn(64 * 7 * 7, 128) * 0.01)
        self.f1b = nn.Parameter(torch.zeros(128))
        self.f2 = nn.Parameter(torch.randn(128, 10) * 0.1)
        self.f2b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = F.max_pool2d(torch.relu(F.conv2d(x, self.c1, self.c1b, padding=1)), 2)
        x = F.max_pool2d(torch.relu(F.conv2d(x, self.c2, self.c2b, padding=1)), 2)
        x = torch.relu(x.flatten(1) @ self.f1 + self.f1b)
        return x @ self.f2 + self.f2b


def conv2d(x, weight, bias=None, stride=1, padding=0):
    if x.dim() != 4:
        raise ValueError("x must be 4-d")
    if weight.dim() != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError("weight channels do not match x")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError("bias must have one entry per output channel")
    if type(stride) is not int or stride < 1 or type(padding) is not int or padding < 0:
        raise ValueError("stride must be >= 1 and padding >= 0")
    xp = F.pad(x, (padding, padding, padding, padding))
    n, c, h, w = xp.shape
    co, _, kh, kw = weight.shape
    if kh > h or kw > w:
        raise ValueError("the weight's kernel does not fit the padded input")
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = x.new_zeros(n, co, oh, ow)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
            out = out + torch.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


def max_pool2d(x, kernel_size, stride=None):
    if x.dim() != 4:
        raise ValueError("x must be 4-d")
    if type(kernel_size) is not int or kernel_size < 1:
        raise ValueError("kernel_size must be an int >= 1")
    if stride is not None and (type(stride) is not int or stride < 1):
        raise ValueError("stride must be an int >= 1")
    s = stride or kernel_size
    n, c, h, w = x.shape
    if kernel_size > h or kernel_size > w:
        raise ValueError(f"kernel_size {kernel_size} too large")
    oh, ow = (h - kernel_size) // s + 1, (w - kernel_size) // s + 1
    out = None
    for i in range(kernel_size):
        for j in range(kernel_size):
            v = x[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s]
            out = v.clone() if out is None else torch.maximum(out, v)
    return out
