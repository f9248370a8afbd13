#!/usr/bin/env python3
"""Generate test/fixtures/resnet_parity.json: PyTorch outputs that resnetCbam() must reproduce.

The architecture comes from the PyTorch reference itself, ../shared/reference/resnet_cbam_reference.py.
That file trains a network at top level, so it cannot be imported: this script parses it with `ast`
and executes only its imports and class definitions (CBAM, BasicBlock, ResNetCBAM).

Cases (narrow networks so the fixture stays small; 44x44x1 inputs, 7 classes):
  depth10_w8_{none,paper,every}  the reference ResNetCBAM, blocks (1,1,1,1), width 8, its three
                                 variants, sharing one set of backbone weights;
  imagenet_w4_paper              the reference network with its stem replaced by the ImageNet stem
                                 (7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool, PyTorch padding);
  bottleneck_w4_every            torchvision-style bottleneck blocks (stride on the 3x3 conv, expansion
                                 4) defined below, with the reference's CBAM inside every block.

Every BatchNorm gets random non-trivial affine parameters and running statistics; models run in eval()
mode on fixed random inputs. Weights are written per tfjs layer path in tfjs layouts and in the order of
the tfjs layer's getWeights(): conv [O,I,kh,kw] -> [kh,kw,I,O], linear [O,I] -> [I,O], BatchNorm
[gamma, beta, moving mean, moving variance], CBAM [fc1 kernel, fc1 bias, fc2 kernel, fc2 bias, spatial
conv kernel, spatial BN gamma, beta, mean, variance]. Inputs are NHWC. Arrays are little-endian float32,
base64-encoded.

Usage (Debian's python3-torch):
  /usr/bin/python3 scripts/make_resnet_fixture.py [--reference PATH] [--out PATH]
"""
import argparse
import ast
import base64
import hashlib
import json
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT.parent / 'shared' / 'reference' / 'resnet_cbam_reference.py'
DEFAULT_OUT = ROOT / 'test' / 'fixtures' / 'resnet_parity.json'


def load_reference(path):
    """Executes only the imports and class definitions of the reference file; returns its namespace."""
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    kept = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.ClassDef))]
    namespace = {'__name__': 'resnet_cbam_reference'}
    exec(compile(ast.Module(body=kept, type_ignores=[]), str(path), 'exec'), namespace)
    for name in ('CBAM', 'BasicBlock', 'ResNetCBAM'):
        assert name in namespace, f'{path}: class {name} not found'
    return namespace, hashlib.sha256(source.encode()).hexdigest()


def make_bottleneck_net(ref):
    """A torchvision-style (v1.5) bottleneck ResNet shaped like the reference ResNetCBAM."""
    CBAM = ref['CBAM']

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride, attention, expansion=4):
            super().__init__()
            cout = width * expansion
            self.c1, self.b1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.c2, self.b2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.c3, self.b3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.att = CBAM(cout) if attention else nn.Identity()
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else \
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.b1(self.c1(x)))
            out = F.relu(self.b2(self.c2(out)))
            out = self.b3(self.c3(out))
            return F.relu(self.att(out) + self.shortcut(x))

    class BottleneckResNet(nn.Module):
        def __init__(self, variant, blocks=(1, 1, 1, 1), width=4, classes=7):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
            self.first = CBAM(width) if variant == 'paper' else nn.Identity()
            layers, cin = [], width
            for stage, n in enumerate(blocks):
                w = width * 2 ** stage
                for i in range(n):
                    layers.append(Bottleneck(cin, w, 2 if stage > 0 and i == 0 else 1, variant == 'every'))
                    cin = w * 4
            self.stages = nn.Sequential(*layers)
            self.last = CBAM(cin) if variant == 'paper' else nn.Identity()
            self.drop, self.fc = nn.Dropout(0.5), nn.Linear(cin, classes)

        def forward(self, x):
            x = self.last(self.stages(self.first(self.stem(x))))
            return self.fc(self.drop(x.mean((2, 3))))

    return BottleneckResNet


def make_inputs(gen):
    """Three 44x44 images that differ a lot: white noise, an asymmetric smooth pattern with a bright
    corner square (sensitive to padding alignment), and offset low-amplitude noise."""
    noise = torch.randn(1, 1, 44, 44, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(44.0), torch.arange(44.0), indexing='ij')
    pattern = torch.sin(xx / 5) * torch.cos(yy / 7) + xx / 22 - 1
    pattern[:9, -9:] += 3
    offset = torch.randn(1, 1, 44, 44, generator=gen) * 0.5 + 1
    return torch.cat([noise, pattern[None, None], offset])


def randomize_batchnorms(model, gen):
    """Non-trivial BN parameters and running statistics, so eval mode differs from identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=gen) * 0.8 + 0.4)


def enc(t):
    a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4'))
    return {'shape': list(a.shape), 'data': base64.b64encode(a.tobytes()).decode('ascii')}


def conv(c):
    return [enc(c.weight.permute(2, 3, 1, 0))]


def bn(b):
    return [enc(b.weight), enc(b.bias), enc(b.running_mean), enc(b.running_var)]


def cbam(a):
    return [enc(a.mlp[0].weight.t()), enc(a.mlp[0].bias), enc(a.mlp[2].weight.t()), enc(a.mlp[2].bias),
            enc(a.conv.weight.permute(2, 3, 1, 0))] + bn(a.bn)


def block_weights(prefix, blk, bottleneck):
    """Weights of one residual block, keyed by tfjs layer path."""
    out = {f'{prefix}/conv1': conv(blk.c1), f'{prefix}/bn1': bn(blk.b1),
           f'{prefix}/conv2': conv(blk.c2), f'{prefix}/bn2': bn(blk.b2)}
    if bottleneck:
        out.update({f'{prefix}/conv3': conv(blk.c3), f'{prefix}/bn3': bn(blk.b3)})
    if isinstance(blk.shortcut, nn.Sequential):
        out.update({f'{prefix}/shortcut_conv': conv(blk.shortcut[0]), f'{prefix}/shortcut_bn': bn(blk.shortcut[1])})
    return out


def split_weights(model, blocks, bottleneck=False):
    """(backbone, attention) weights of a reference-shaped model, keyed by tfjs layer path."""
    stem = [m for m in model.stem if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    backbone = {'stem_conv': conv(stem[0]), 'stem_bn': bn(stem[1]),
                'classifier': [enc(model.fc.weight.t()), enc(model.fc.bias)]}
    attention = {}
    i = 0
    for s, n in enumerate(blocks):
        for b in range(n):
            blk, prefix = model.stages[i], f'stage{s + 1}_block{b + 1}'
            backbone.update(block_weights(prefix, blk, bottleneck))
            if not isinstance(blk.att, nn.Identity):
                attention[f'{prefix}/attention'] = cbam(blk.att)
            i += 1
    if not isinstance(model.first, nn.Identity):
        attention['stem_attention'] = cbam(model.first)
    if not isinstance(model.last, nn.Identity):
        attention[f'stage{len(blocks)}_attention'] = cbam(model.last)
    return backbone, attention


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reference', type=pathlib.Path, default=DEFAULT_REFERENCE)
    p.add_argument('--out', type=pathlib.Path, default=DEFAULT_OUT)
    args = p.parse_args()
    ref, sha = load_reference(args.reference)
    ResNetCBAM = ref['ResNetCBAM']
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    x = make_inputs(gen)
    fixture = {
        'generator': 'scripts/make_resnet_fixture.py',
        'reference': 'resnet_cbam_reference.py',
        'reference_sha256': sha,
        'torch': torch.__version__,
        'inputs': enc(x.permute(0, 2, 3, 1)),
        'weights': {},
        'cases': [],
    }

    def run(model, name, options, groups):
        model.eval()
        with torch.no_grad():
            logits = model(x)
        fixture['cases'].append({'name': name, 'options': options, 'weights': groups, 'logits': enc(logits)})
        print(f'{name}: logits max |.| {logits.abs().max().item():.3f}, '
              f'trainable params {sum(p.numel() for p in model.parameters())}')

    blocks = (1, 1, 1, 1)
    # Three reference variants with one backbone: 'none' defines it, the others load it.
    base = ResNetCBAM('none', blocks, width=8)
    randomize_batchnorms(base, gen)
    backbone, _ = split_weights(base, blocks)
    fixture['weights']['backbone_w8'] = backbone
    opts = {'depth': 10, 'width': 8, 'classifierActivation': 'linear'}
    run(base, 'depth10_w8_none', {**opts, 'attention': None}, ['backbone_w8'])
    for variant, placement in (('paper', 'paper'), ('every', 'everyBlock')):
        model = ResNetCBAM(variant, blocks, width=8)
        missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
        assert not unexpected and all('att' in k or 'first' in k or 'last' in k for k in missing), missing
        randomize_batchnorms(model, gen)
        model.load_state_dict(base.state_dict(), strict=False)  # restore the shared backbone's BN stats
        _, attention = split_weights(model, blocks)
        fixture['weights'][f'attention_w8_{variant}'] = attention
        run(model, f'depth10_w8_{variant}', {**opts, 'placement': placement},
            ['backbone_w8', f'attention_w8_{variant}'])

    # The reference network with an ImageNet stem.
    model = ResNetCBAM('paper', blocks, width=4)
    model.stem = nn.Sequential(nn.Conv2d(1, 4, 7, 2, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1))
    randomize_batchnorms(model, gen)
    backbone, attention = split_weights(model, blocks)
    fixture['weights']['imagenet_w4_paper'] = {**backbone, **attention}
    run(model, 'imagenet_w4_paper',
        {'depth': 10, 'width': 4, 'stem': 'imagenet', 'placement': 'paper', 'classifierActivation': 'linear'},
        ['imagenet_w4_paper'])

    # Bottleneck blocks with CBAM in every block.
    model = make_bottleneck_net(ref)('every', blocks, width=4)
    randomize_batchnorms(model, gen)
    backbone, attention = split_weights(model, blocks, bottleneck=True)
    fixture['weights']['bottleneck_w4_every'] = {**backbone, **attention}
    run(model, 'bottleneck_w4_every',
        {'blocks': list(blocks), 'bottleneck': True, 'width': 4, 'placement': 'everyBlock',
         'classifierActivation': 'linear'},
        ['bottleneck_w4_every'])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, separators=(',', ':'))
    args.out.write_text(text + '\n')
    print(f'wrote {args.out} ({len(text) / 1024:.0f} KiB)')


if __name__ == '__main__':
    main()
