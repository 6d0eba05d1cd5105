"""Mutants of solutions/cnn.py: real mistakes the chapter 15 graders must catch."""

import torch
from torch import nn
from torch.nn import functional as F

from torchkata.mutants import mutant


@mutant("conv_output_size", "dilation ignored")
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    if kernel > size + 2 * padding or stride < 1 or padding < 0 or dilation < 1:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    return (size + 2 * padding - kernel) // stride + 1


@mutant("conv_output_size", "padding added on one side only")
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding or stride < 1 or padding < 0 or dilation < 1:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    return (size + padding - span) // stride + 1


@mutant("conv_output_size", "rounding up instead of down")
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding or stride < 1 or padding < 0 or dilation < 1:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    return -(-(size + 2 * padding - span) // stride) + 1


@mutant("conv_output_size", "the + 1 forgotten")
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding or stride < 1 or padding < 0 or dilation < 1:
        raise ValueError(f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    return (size + 2 * padding - span) // stride


@mutant("CNN", "second pooling left out, so the head is Linear(64 * 14 * 14, 128)")
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 14 * 14, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


@mutant("CNN", "padding missing in the convolutions (head sized to fit: 64 * 5 * 5)")
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


@mutant("CNN", "ReLU missing after the second convolution")
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


@mutant("CNN", "softmax applied to the logits")
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return F.softmax(self.classifier(self.features(x)), dim=1)


@mutant("conv2d", "weight reshaped transposed: (C_in * kH * kW, C_out) instead of (C_out, C_in * kH * kW)")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    columns = F.unfold(x, (kernel_h, kernel_w), padding=padding, stride=stride)
    out = weight.reshape(-1, out_channels).T @ columns
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out.reshape(n, out_channels, out_h, out_w)


@mutant("conv2d", "padding missing")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height - kernel_h) // stride + 1
    out_w = (width - kernel_w) // stride + 1
    columns = F.unfold(x, (kernel_h, kernel_w), stride=stride)
    out = weight.reshape(out_channels, -1) @ columns
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out.reshape(n, out_channels, out_h, out_w)


@mutant("conv2d", "bias ignored")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    columns = F.unfold(x, (kernel_h, kernel_w), padding=padding, stride=stride)
    return (weight.reshape(out_channels, -1) @ columns).reshape(n, out_channels, out_h, out_w)


@mutant("conv2d", "stride applied by subsampling a stride-1 result with the wrong offset")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    full_h = height + 2 * padding - kernel_h + 1
    full_w = width + 2 * padding - kernel_w + 1
    columns = F.unfold(x, (kernel_h, kernel_w), padding=padding)
    out = weight.reshape(out_channels, -1) @ columns
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    out = out.reshape(n, out_channels, full_h, full_w)
    return out[:, :, stride - 1 :: stride, stride - 1 :: stride]


@mutant("conv2d", "calls F.conv2d instead of building the convolution")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


@mutant("conv2d", "calls torch.conv2d instead of building the convolution")
def conv2d(x, weight, bias=None, stride=1, padding=0):
    return torch.conv2d(x, weight, bias, stride, padding)


@mutant("max_pool2d", "pool stride defaults to 1 instead of kernel_size")
def max_pool2d(x, kernel_size, stride=None):
    stride = 1 if stride is None else stride
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x")
    return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))


@mutant("max_pool2d", "stride argument ignored (always kernel_size)")
def max_pool2d(x, kernel_size, stride=None):
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x")
    return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).amax(dim=(-2, -1))


@mutant("max_pool2d", "average instead of maximum")
def max_pool2d(x, kernel_size, stride=None):
    stride = kernel_size if stride is None else stride
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x")
    return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).mean(dim=(-2, -1))


@mutant("max_pool2d", "calls F.max_pool2d instead of building the pooling")
def max_pool2d(x, kernel_size, stride=None):
    return F.max_pool2d(x, kernel_size, stride)


@mutant("max_pool2d", "maximum taken through a detached copy, so no gradient flows")
def max_pool2d(x, kernel_size, stride=None):
    stride = kernel_size if stride is None else stride
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x")
    windows = x.detach().unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    return windows.amax(dim=(-2, -1))


@mutant("max_pool2d", "maximum over the channels too")
def max_pool2d(x, kernel_size, stride=None):
    stride = kernel_size if stride is None else stride
    if kernel_size > min(x.shape[2], x.shape[3]):
        raise ValueError(f"kernel_size {kernel_size} does not fit x")
    pooled = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
    return pooled.amax(dim=1, keepdim=True).expand_as(pooled)
