"""The reference for changelab's 'siam-resnet18-diff' (kernel-lib/src/train/models/resnet.ts) in
PyTorch: torchvision's ResNet-18 layout (7x7 stride-2 stem, 3x3 stride-2 max pool, four stages of
two BasicBlocks, 1x1 projection shortcuts) as a Siamese encoder with `width` channels in the first
stage, absolute-difference skips at /2 ... /32, and a U-Net-style decoder (nearest x2 upsampling,
concat, two conv-BN-ReLU blocks per stage), then a full-resolution conv-BN-ReLU and a 3x3 head.
Written with torch.nn only (no torchvision needed); state_dict names equal ours."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class Encoder(nn.Module):
    def __init__(self, bands, width):
        super().__init__()
        self.conv1 = nn.Conv2d(bands, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for stage in range(1, 5):
            cout = width * 2 ** (stage - 1)
            stride = 1 if stage == 1 else 2
            setattr(self, f"layer{stage}", nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout

    def forward(self, x):
        stem = F.relu(self.bn1(self.conv1(x)))
        features = [stem]
        h = F.max_pool2d(stem, kernel_size=3, stride=2, padding=1)
        for stage in range(1, 5):
            h = getattr(self, f"layer{stage}")(h)
            features.append(h)
        return features


class DecoderStage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)


class Head(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, classes, 3, padding=1)


class SiamResNet18Diff(nn.Module):
    def __init__(self, bands=3, width=16, classes=1, dropout=0.2):
        super().__init__()
        self.p = dropout
        self.encoder = Encoder(bands, width)
        chans = [width, width, 2 * width, 4 * width, 8 * width]  # /2, /4, /8, /16, /32
        stages = []
        cin = chans[4]
        for i in range(4):
            skip = chans[3 - i]
            stages.append(DecoderStage(cin + skip, skip))
            cin = skip
        self.decoder = nn.ModuleList(stages)
        self.head = Head(width, classes)

    def block(self, conv, bn, x):
        return F.dropout2d(F.relu(bn(conv(x))), p=self.p, training=self.training)

    def forward(self, before, after):
        f1 = self.encoder(before)
        f2 = self.encoder(after)
        diff = [torch.abs(a - b) for a, b in zip(f1, f2)]
        h = diff[4]
        for i, stage in enumerate(self.decoder):
            h = torch.cat((F.interpolate(h, scale_factor=2, mode="nearest"), diff[3 - i]), 1)
            h = self.block(stage.conv1, stage.bn1, h)
            h = self.block(stage.conv2, stage.bn2, h)
        h = self.block(self.head.conv1, self.head.bn1, F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.head.conv2(h)
