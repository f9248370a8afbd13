"""PyTorch parity fixtures for the fer-cbam attention layers -> test/fixtures/layers.json.

Builds CBAM (as in ../shared/reference/resnet_cbam_reference.py, and as in the official
Jongchan/attention-module MODELS/cbam.py), ChannelAttention and SpatialAttention variants,
Squeeze-and-Excitation, ECA (official eca_layer) and Coordinate Attention (official CoordAtt) in
PyTorch with fixed seeds, runs them in float64 on small float32 inputs, and writes the inputs,
the weights (already converted to the tfjs layouts, in the layers' getWeights() order) and the
outputs (NHWC) as base64 little-endian float32. Tests read the JSON; they never need Python.

  /usr/bin/python3 scripts/make_layer_fixtures.py      (Debian python3-torch 1.13, CPU)

Layout conversions used (PyTorch -> tfjs):
  nn.Linear weight [out, in]        -> kernel [in, out]            (transpose)
  nn.Conv2d weight [out, in, kh, kw] -> kernel [kh, kw, in, out]    (permute(2, 3, 1, 0))
  nn.Conv1d weight [1, 1, k]         -> kernel [k, 1, 1]            (permute(2, 1, 0))
  activations NCHW                   -> NHWC                        (permute(0, 2, 3, 1))
"""
import base64
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'layers.json')


def enc(t):
    a = t.detach().to(torch.float32).contiguous().numpy().astype('<f4')
    return {'shape': list(a.shape), 'data': base64.b64encode(a.tobytes()).decode('ascii')}


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def linear_kernel(lin):
    return lin.weight.t()


def conv_kernel(conv):
    return conv.weight.permute(2, 3, 1, 0)


# ---- modules -------------------------------------------------------------------------------


class ReferenceCBAM(nn.Module):
    """Exactly the CBAM of ../shared/reference/resnet_cbam_reference.py (r and k as parameters)."""

    def __init__(self, c, r=16, k=7):
        super().__init__()
        h = max(c // r, 1)
        self.mlp = nn.Sequential(nn.Linear(c, h), nn.ReLU(), nn.Linear(h, c))
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        a = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        x = x * torch.sigmoid(a)[:, :, None, None]
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.bn(self.conv(s)))

    def tfjs_weights(self):
        return [linear_kernel(self.mlp[0]), self.mlp[0].bias, linear_kernel(self.mlp[2]), self.mlp[2].bias,
                conv_kernel(self.conv), self.bn.weight, self.bn.bias, self.bn.running_mean, self.bn.running_var]

    def bn_module(self):
        return self.bn


# The official Jongchan/attention-module MODELS/cbam.py (pool_types ['avg', 'max'], no lp/lse),
# written out here: BasicConv with bn (eps 1e-5, momentum 0.01) and no ReLU, ChannelPool = [max, mean].
class OfficialBasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, padding):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=1, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


class OfficialChannelGate(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(gate_channels, gate_channels // reduction_ratio), nn.ReLU(),
                                 nn.Linear(gate_channels // reduction_ratio, gate_channels))

    def forward(self, x):
        avg = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
        mx = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
        att = self.mlp(avg) + self.mlp(mx)
        return x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)


class OfficialSpatialGate(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.spatial = OfficialBasicConv(2, 1, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x):
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class OfficialCBAM(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.ChannelGate = OfficialChannelGate(gate_channels, reduction_ratio)
        self.SpatialGate = OfficialSpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))

    def tfjs_weights(self):
        mlp, sp = self.ChannelGate.mlp, self.SpatialGate.spatial
        return [linear_kernel(mlp[1]), mlp[1].bias, linear_kernel(mlp[3]), mlp[3].bias,
                conv_kernel(sp.conv), sp.bn.weight, sp.bn.bias, sp.bn.running_mean, sp.bn.running_var]

    def bn_module(self):
        return self.SpatialGate.spatial.bn


class ChannelOnly(nn.Module):
    def __init__(self, c, r, bias, pools):
        super().__init__()
        h = max(c // r, 1)
        self.fc1, self.fc2, self.pools = nn.Linear(c, h, bias=bias), nn.Linear(h, c, bias=bias), pools

    def forward(self, x):
        a = 0
        for p in self.pools:
            v = x.mean((2, 3)) if p == 'avg' else x.amax((2, 3))
            a = a + self.fc2(F.relu(self.fc1(v)))
        return x * torch.sigmoid(a)[:, :, None, None]

    def tfjs_weights(self):
        w = [linear_kernel(self.fc1)]
        if self.fc1.bias is not None:
            w.append(self.fc1.bias)
        w.append(linear_kernel(self.fc2))
        if self.fc2.bias is not None:
            w.append(self.fc2.bias)
        return w


class SpatialOnly(nn.Module):
    def __init__(self, k, use_bn, order):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(1) if use_bn else None
        self.order = order

    def forward(self, x):
        mean, mx = x.mean(1, keepdim=True), x.amax(1, keepdim=True)
        s = torch.cat([mean, mx] if self.order == 'meanMax' else [mx, mean], 1)
        s = self.conv(s)
        if self.bn is not None:
            s = self.bn(s)
        return x * torch.sigmoid(s)

    def tfjs_weights(self):
        w = [conv_kernel(self.conv)]
        if self.bn is not None:
            w += [self.bn.weight, self.bn.bias, self.bn.running_mean, self.bn.running_var]
        return w

    def bn_module(self):
        return self.bn


class SELayer(nn.Module):
    """Hu et al.: squeeze (global average pool), excitation (FC-ReLU-FC-sigmoid, with biases), scale."""

    def __init__(self, c, r):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, c // r), nn.ReLU(inplace=True), nn.Linear(c // r, c), nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        return x * self.fc(x.mean((2, 3))).view(b, c, 1, 1)

    def tfjs_weights(self):
        return [linear_kernel(self.fc[0]), self.fc[0].bias, linear_kernel(self.fc[2]), self.fc[2].bias]


class EcaLayer(nn.Module):
    """The official ECA-Net eca_layer, with its adaptive kernel size (gamma 2, b 1) when k_size is None."""

    def __init__(self, channel, k_size=None, gamma=2, b=1):
        super().__init__()
        if k_size is None:
            t = int(abs((math.log(channel, 2) + b) / gamma))
            k_size = t if t % 2 else t + 1
        self.k_size = k_size
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y).expand_as(x)

    def tfjs_weights(self):
        return [self.conv.weight.permute(2, 1, 0)]


class HSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3) / 6


class HSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.sigmoid = HSigmoid()

    def forward(self, x):
        return x * self.sigmoid(x)


class CoordAtt(nn.Module):
    """The official Coordinate Attention (Hou et al. 2021, houqb/CoordAttention coordatt.py)."""

    def __init__(self, inp, oup, reduction=32):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        identity = x
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = torch.cat([x_h, x_w], dim=2)
        y = self.act(self.bn1(self.conv1(y)))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w).sigmoid()
        return identity * a_w * a_h

    def tfjs_weights(self):
        # tfjs order: trainable weights first, then the BatchNorm moving statistics.
        return [conv_kernel(self.conv1), self.conv1.bias, self.bn1.weight, self.bn1.bias,
                conv_kernel(self.conv_h), self.conv_h.bias, conv_kernel(self.conv_w), self.conv_w.bias,
                self.bn1.running_mean, self.bn1.running_var]

    def bn_module(self):
        return self.bn1


# ---- cases ---------------------------------------------------------------------------------


def randomise(module, gen):
    """Deterministic float32 weights (rounded through float32) of a moderate scale, so every gate
    is far from saturation, and non-trivial BatchNorm statistics."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 0.5 if p.dim() > 1 else 0.3
            p.copy_((torch.randn(p.shape, generator=gen) * scale).float())
            if name.endswith('weight') and p.dim() == 1:  # BatchNorm gamma
                p.copy_((1 + 0.3 * torch.randn(p.shape, generator=gen)).float())
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_((0.2 * torch.randn(m.running_mean.shape, generator=gen)).float())
                m.running_var.copy_((0.5 + torch.rand(m.running_var.shape, generator=gen)).float())


def make_case(name, layer, options, module, shape, seed, note, training=True):
    gen = torch.Generator().manual_seed(seed)
    randomise(module, gen)
    module = module.double()
    x = torch.randn(shape, generator=gen).float()  # NCHW
    case = {'name': name, 'layer': layer, 'options': options, 'note': note,
            'input': enc(nhwc(x)), 'weights': [enc(w) for w in module.tfjs_weights()]}
    module.eval()
    with torch.no_grad():
        case['inference'] = enc(nhwc(module(x.double())))
    if training:
        module.train()
        with torch.no_grad():
            case['training'] = enc(nhwc(module(x.double())))
        bn = module.bn_module()
        case['movingAfterTraining'] = [enc(bn.running_mean), enc(bn.running_var)]
    return case


def main():
    torch.set_num_threads(1)
    cases = [
        make_case('cbam_reference', 'CBAM', {'reductionRatio': 4}, ReferenceCBAM(16, r=4, k=7), (2, 16, 5, 6), 1,
                  'CBAM of ../shared/reference/resnet_cbam_reference.py (pooled maps [mean, max], BN momentum 0.1)'),
        make_case('cbam_official', 'CBAM', {'reductionRatio': 8, 'poolOrder': 'maxMean', 'momentum': 0.99},
                  OfficialCBAM(16, 8), (2, 16, 6, 5), 2,
                  'Jongchan/attention-module MODELS/cbam.py (ChannelPool [max, mean], BN momentum 0.01)'),
        make_case('channel_no_bias', 'ChannelAttention', {'reductionRatio': 2, 'useBias': False},
                  ChannelOnly(8, 2, False, ['avg', 'max']), (2, 8, 4, 5), 3, 'MLP without biases', training=False),
        make_case('channel_max_only', 'ChannelAttention', {'reductionRatio': 4, 'poolTypes': ['max']},
                  ChannelOnly(8, 4, True, ['max']), (2, 8, 4, 5), 4, 'max pooling only', training=False),
        make_case('spatial_k3_no_bn', 'SpatialAttention', {'kernelSize': 3, 'useBatchNorm': False},
                  SpatialOnly(3, False, 'meanMax'), (2, 8, 5, 4), 5, '3x3 conv, no BatchNorm', training=False),
        make_case('spatial_k5_max_mean', 'SpatialAttention', {'kernelSize': 5, 'poolOrder': 'maxMean'},
                  SpatialOnly(5, True, 'maxMean'), (2, 8, 5, 4), 6, '5x5 conv, [max, mean], BatchNorm'),
        make_case('se', 'SqueezeExcitation', {'reductionRatio': 4}, SELayer(16, 4), (2, 16, 4, 3), 7,
                  'Squeeze-and-Excitation with biases', training=False),
        make_case('eca_adaptive_256', 'EfficientChannelAttention', {}, EcaLayer(256), (1, 256, 2, 3), 8,
                  'adaptive kernel size for 256 channels (k = 5)', training=False),
        make_case('eca_k3', 'EfficientChannelAttention', {'kernelSize': 3}, EcaLayer(16, 3), (2, 16, 3, 3), 9,
                  'explicit kernel size 3', training=False),
        make_case('coord', 'CoordinateAttention', {'reductionRatio': 32}, CoordAtt(16, 16, 32), (2, 16, 5, 6), 10,
                  'official CoordAtt, mip = max(8, 16 // 32) = 8'),
    ]
    doc = {'generator': 'scripts/make_layer_fixtures.py', 'torch': torch.__version__,
           'encoding': 'base64 little-endian float32; activations NHWC; weights in tfjs layout and getWeights() order',
           'cases': cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')
    print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)')


if __name__ == '__main__':
    main()
