"""Realistic mistakes in chapter 15, cnn, that the public checks alone must catch."""

from torchkata.mutants import mutant


@mutant("max_pool2d", "the windows always step by kernel_size: an explicit stride is ignored")
def max_pool2d(x, kernel_size, stride=None):
    windows = x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size)
    return windows.amax(dim=(-2, -1))


@mutant("conv_output_size", "dilation is ignored: the kernel's span is taken as kernel")
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - kernel) // stride + 1


@mutant("conv2d", "the weight is reshaped (C_in * kh * kw, C_out) and transposed, which scrambles its entries")
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
