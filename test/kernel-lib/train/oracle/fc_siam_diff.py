"""FC-Siam-diff (Daudt, Le Saux, Boulch, ICIP 2018) in PyTorch, written after the authors' code
(siamunet_diff.py) with the width and band count as arguments and a single change logit out, the
reference our ONNX-built model is compared with. Layer names match our parameter names."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class FCSiamDiff(nn.Module):
    def __init__(self, bands=3, width=16, classes=1, dropout=0.2):
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
        self.p = dropout

        def conv(name, cin, cout):
            setattr(self, f"conv{name}", nn.Conv2d(cin, cout, kernel_size=3, padding=1))
            setattr(self, f"bn{name}", nn.BatchNorm2d(cout))

        def tconv(name, cin, cout, bn=True):
            setattr(self, f"conv{name}", nn.ConvTranspose2d(cin, cout, kernel_size=3, padding=1))
            if bn:
                setattr(self, f"bn{name}", nn.BatchNorm2d(cout))

        conv("11", bands, w1); conv("12", w1, w1)
        conv("21", w1, w2); conv("22", w2, w2)
        conv("31", w2, w3); conv("32", w3, w3); conv("33", w3, w3)
        conv("41", w3, w4); conv("42", w4, w4); conv("43", w4, w4)
        self.upconv4 = nn.ConvTranspose2d(w4, w4, kernel_size=3, padding=1, stride=2, output_padding=1)
        tconv("43d", 2 * w4, w4); tconv("42d", w4, w4); tconv("41d", w4, w3)
        self.upconv3 = nn.ConvTranspose2d(w3, w3, kernel_size=3, padding=1, stride=2, output_padding=1)
        tconv("33d", 2 * w3, w3); tconv("32d", w3, w3); tconv("31d", w3, w2)
        self.upconv2 = nn.ConvTranspose2d(w2, w2, kernel_size=3, padding=1, stride=2, output_padding=1)
        tconv("22d", 2 * w2, w2); tconv("21d", w2, w1)
        self.upconv1 = nn.ConvTranspose2d(w1, w1, kernel_size=3, padding=1, stride=2, output_padding=1)
        tconv("12d", 2 * w1, w1); tconv("11d", w1, classes, bn=False)

    def block(self, name, x):
        x = F.relu(getattr(self, f"bn{name}")(getattr(self, f"conv{name}")(x)))
        return F.dropout2d(x, p=self.p, training=self.training)

    def encode(self, x):
        skips = []
        for level, depth in ((1, 2), (2, 2), (3, 3), (4, 3)):
            for j in range(1, depth + 1):
                x = self.block(f"{level}{j}", x)
            skips.append(x)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        return skips, x

    def forward(self, before, after):
        s1, _ = self.encode(before)
        s2, x = self.encode(after)
        for level, depth in ((4, 3), (3, 3), (2, 2), (1, 2)):
            x = getattr(self, f"upconv{level}")(x)
            x = torch.cat((x, torch.abs(s1[level - 1] - s2[level - 1])), 1)
            for j in range(depth, 0, -1):
                name = f"{level}{j}d"
                x = getattr(self, f"conv{name}")(x) if name == "11d" else self.block(name, x)
        return x
