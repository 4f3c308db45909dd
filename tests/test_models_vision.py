"""Vision and generative models against plain-torch twins written here.

For each model: build it in pydl, build the same architecture in torch (below, with torchvision's
module names), copy the weights through state_dict, then compare logits, loss and every parameter
gradient, and the losses of 10 optimizer steps. float64 throughout, so that the only differences are
summation orders (tolerances 1e-9 relative); one float32 row per family checks the default dtype with
tolerances derived from the float64 result.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as tF

import pydl
from pydl import models as M
from pydl.nn import functional as F


# ----------------------------------------------------------------------------- torch twins
class TMLP(tnn.Module):
    def __init__(self, inf, classes, hidden):
        super().__init__()
        layers, w = [tnn.Flatten()], inf
        for h in hidden:
            layers += [tnn.Linear(w, h), tnn.ReLU()]
            w = h
        layers.append(tnn.Linear(w, classes))
        self.net = tnn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class TLeNet(tnn.Module):
    def __init__(self, cin, classes, pad, classic):
        super().__init__()
        act = tnn.Tanh if classic else tnn.ReLU
        pool = (lambda: tnn.AvgPool2d(2)) if classic else (lambda: tnn.MaxPool2d(2))
        self.features = tnn.Sequential(tnn.Conv2d(cin, 6, 5, padding=pad), act(), pool(),
                                       tnn.Conv2d(6, 16, 5), act(), pool())
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(400, 120), act(), tnn.Linear(120, 84), act(),
                                         tnn.Linear(84, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class TAlexNet(tnn.Module):
    def __init__(self, cin, classes, c, fc):
        super().__init__()
        c1, c2, c3, c4, c5 = c
        lrn = (lambda: tnn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        self.features = tnn.Sequential(
            tnn.Conv2d(cin, c1, 3, padding=1), tnn.ReLU(), lrn(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c1, c2, 5, padding=2), tnn.ReLU(), lrn(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c2, c3, 3, padding=1), tnn.ReLU(), tnn.Conv2d(c3, c4, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(c4, c5, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(tnn.Dropout(0.0), tnn.Linear(c5 * 36, fc), tnn.ReLU(), tnn.Dropout(0.0),
                                         tnn.Linear(fc, fc), tnn.ReLU(), tnn.Linear(fc, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TVGG(tnn.Module):
    def __init__(self, cfg, cin, classes, bn, pool, fc):
        super().__init__()
        layers, c = [], cin
        for v in cfg:
            if v == "M":
                layers.append(tnn.MaxPool2d(2, 2))
                continue
            layers.append(tnn.Conv2d(c, v, 3, padding=1))
            if bn:
                layers.append(tnn.BatchNorm2d(v))
            layers.append(tnn.ReLU())
            c = v
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((pool, pool))
        self.classifier = tnn.Sequential(tnn.Linear(c * pool * pool, fc), tnn.ReLU(), tnn.Dropout(0.0),
                                         tnn.Linear(fc, fc), tnn.ReLU(), tnn.Dropout(0.0), tnn.Linear(fc, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TBasic(tnn.Module):
    expansion = 1

    def __init__(self, cin, w, stride=1, down=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, w, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(w)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(w, w, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(w)
        self.downsample = down

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)


class TBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, cin, w, stride=1, down=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, w, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(w)
        self.conv2 = tnn.Conv2d(w, w, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(w)
        self.conv3 = tnn.Conv2d(w, 4 * w, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(4 * w)
        self.relu = tnn.ReLU()
        self.downsample = down

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class TResNet(tnn.Module):
    def __init__(self, block, layers, classes, cin, widths, small):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = (tnn.Conv2d(cin, widths[0], 3, 1, 1, bias=False) if small
                      else tnn.Conv2d(cin, widths[0], 7, 2, 3, bias=False))
        self.bn1 = tnn.BatchNorm2d(widths[0])
        self.relu = tnn.ReLU()
        self.maxpool = tnn.Identity() if small else tnn.MaxPool2d(3, 2, 1)
        self.n = len(layers)
        for i, (n, w) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or self.inplanes != w * block.expansion:
                down = tnn.Sequential(tnn.Conv2d(self.inplanes, w * block.expansion, 1, stride, bias=False),
                                      tnn.BatchNorm2d(w * block.expansion))
            blocks = [block(self.inplanes, w, stride, down)]
            self.inplanes = w * block.expansion
            blocks += [block(self.inplanes, w) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(widths[-1] * block.expansion, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.n):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TBasicConv(tnn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)
        self.relu = tnn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class TInception(tnn.Module):
    def __init__(self, cin, a, b_red, b, c_red, c, pp):
        super().__init__()
        self.branch1 = TBasicConv(cin, a, 1)
        self.branch2 = tnn.Sequential(TBasicConv(cin, b_red, 1), TBasicConv(b_red, b, 3, padding=1))
        self.branch3 = tnn.Sequential(TBasicConv(cin, c_red, 1), TBasicConv(c_red, c, 3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), TBasicConv(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TAux(tnn.Module):
    def __init__(self, cin, classes, c, hidden):
        super().__init__()
        self.avgpool = tnn.AdaptiveAvgPool2d((4, 4))
        self.conv = TBasicConv(cin, c, 1)
        self.fc1 = tnn.Linear(c * 16, hidden)
        self.fc2 = tnn.Linear(hidden, classes)
        self.relu = tnn.ReLU()
        self.dropout = tnn.Dropout(0.0)

    def forward(self, x):
        return self.fc2(self.dropout(self.relu(self.fc1(torch.flatten(self.conv(self.avgpool(x)), 1)))))


_GBLOCKS = [("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)),
            ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)),
            ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)),
            ("4e", (256, 160, 320, 32, 128, 128)), ("5a", (256, 160, 320, 32, 128, 128)),
            ("5b", (384, 192, 384, 48, 128, 128))]


class TGoogLeNet(tnn.Module):
    def __init__(self, classes, cin, width, aux):
        super().__init__()
        s = (lambda c: max(1, int(round(c * width))))
        self.conv1 = TBasicConv(cin, s(64), 3, padding=1)
        self.maxpool1 = tnn.Identity()
        self.conv2 = TBasicConv(s(64), s(64), 1)
        self.conv3 = TBasicConv(s(64), s(192), 3, padding=1)
        self.maxpool2 = tnn.Identity()
        c, caux = s(192), {}
        for name, cfg in _GBLOCKS:
            cfg = [s(v) for v in cfg]
            setattr(self, "inception" + name, TInception(c, *cfg))
            c = cfg[0] + cfg[2] + cfg[4] + cfg[5]
            caux[name] = c
        self.maxpool3 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = tnn.MaxPool2d(2, 2, ceil_mode=True)
        self.aux = aux
        if aux:
            self.aux1 = TAux(caux["4a"], classes, s(128), s(1024))
            self.aux2 = TAux(caux["4d"], classes, s(128), s(1024))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.dropout = tnn.Dropout(0.0)
        self.fc = tnn.Linear(c, classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        a1 = self.aux1(x) if self.aux and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        a2 = self.aux2(x) if self.aux and self.training else None
        x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
        out = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (out, a2, a1) if self.aux and self.training else out


class TConvAE(tnn.Module):
    def __init__(self, cin, w):
        super().__init__()
        self.encoder = tnn.Sequential(tnn.Conv2d(cin, w, 3, 2, 1), tnn.ReLU(), tnn.Conv2d(w, 2 * w, 3, 2, 1),
                                      tnn.ReLU())
        self.decoder = tnn.Sequential(tnn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), tnn.ReLU(),
                                      tnn.ConvTranspose2d(w, cin, 3, 2, 1, output_padding=1), tnn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class TDenseAE(tnn.Module):
    def __init__(self, inf, hidden, latent):
        super().__init__()
        enc, w = [tnn.Flatten()], inf
        for h in hidden:
            enc += [tnn.Linear(w, h), tnn.ReLU()]
            w = h
        enc.append(tnn.Linear(w, latent))
        dec, w = [], latent
        for h in reversed(hidden):
            dec += [tnn.Linear(w, h), tnn.ReLU()]
            w = h
        dec += [tnn.Linear(w, inf), tnn.Sigmoid()]
        self.encoder, self.decoder = tnn.Sequential(*enc), tnn.Sequential(*dec)

    def forward(self, x):
        return self.decoder(self.encoder(x)).reshape(x.shape)


class TGen(tnn.Module):  # DCGAN generator for 28 px: base 7, two up-samplings
    def __init__(self, latent, ch, w):
        super().__init__()
        self.latent = latent
        self.net = tnn.Sequential(tnn.ConvTranspose2d(latent, 2 * w, 7, 1, 0, bias=False), tnn.BatchNorm2d(2 * w),
                                  tnn.ReLU(), tnn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
                                  tnn.BatchNorm2d(w), tnn.ReLU(), tnn.ConvTranspose2d(w, ch, 4, 2, 1, bias=False),
                                  tnn.Tanh())

    def forward(self, z):
        return self.net(z.reshape(z.shape[0], self.latent, 1, 1))


class TDisc(tnn.Module):
    def __init__(self, ch, w):
        super().__init__()
        self.net = tnn.Sequential(tnn.Conv2d(ch, w, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2),
                                  tnn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), tnn.BatchNorm2d(2 * w),
                                  tnn.LeakyReLU(0.2), tnn.Conv2d(2 * w, 1, 7, 1, 0, bias=False), tnn.Flatten())

    def forward(self, x):
        return self.net(x).reshape(x.shape[0])


# ----------------------------------------------------------------------------- helpers
def copy_weights(pmodel, tmodel):
    """pydl → torch through state_dict (numpy in between); the keys must match exactly."""
    psd = pmodel.state_dict()
    tsd = tmodel.state_dict()
    assert set(psd) == set(tsd), f"state_dict keys differ: only pydl {set(psd) - set(tsd)}, " \
                                 f"only torch {set(tsd) - set(psd)}"
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v.numpy())).to(tsd[k].dtype) for k, v in psd.items()})


def close(a, b, rtol, atol, what):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    torch.testing.assert_close(torch.from_numpy(np.array(a)), torch.from_numpy(np.array(b)), rtol=rtol, atol=atol,
                               msg=lambda m: f"{what}: {m}")


def check_model(pmodel, tmodel, x_np, target_np, loss_kind="ce", steps=10, dtype="float64", rtol=1e-9,
                atol=1e-10, lr=1e-3):
    if dtype == "float64":
        pmodel.double()
        tmodel.double()
    copy_weights(pmodel, tmodel)
    pmodel.train()
    tmodel.train()
    xp, xt = pydl.tensor(x_np), torch.from_numpy(x_np)
    tp, tt = pydl.tensor(target_np), torch.from_numpy(target_np)
    lossp = {"ce": F.cross_entropy, "mse": F.mse_loss}[loss_kind]
    losst = {"ce": tF.cross_entropy, "mse": tF.mse_loss}[loss_kind]
    # 1. logits, loss and every parameter gradient
    outp, outt = pmodel(xp), tmodel(xt)
    close(outp, outt, rtol, atol, "output")
    lp, lt = lossp(outp, tp), losst(outt, tt)
    close(lp, lt, rtol, atol, "loss")
    lp.backward()
    lt.backward()
    tparams = dict(tmodel.named_parameters())
    n_checked = 0
    for name, p in pmodel.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        close(p.grad, tparams[name].grad, rtol * 10, atol * 10, f"grad {name}")
        n_checked += 1
    assert n_checked == len(tparams)
    # running statistics of batch norm after the training-mode forward
    tbuf = dict(tmodel.named_buffers())
    for name, b in pmodel.named_buffers():
        close(b, tbuf[name], rtol, atol, f"buffer {name}")
    # 2. the losses of `steps` Adam steps (from the state after the step above)
    optp = pydl.optim.Adam(pmodel.parameters(), lr=lr)
    optt = torch.optim.Adam(tmodel.parameters(), lr=lr)
    lossesp, lossest = [], []
    for _ in range(steps):
        optp.zero_grad()
        optt.zero_grad()
        a, b = lossp(pmodel(xp), tp), losst(tmodel(xt), tt)
        a.backward()
        b.backward()
        optp.step()
        optt.step()
        lossesp.append(a.item())
        lossest.append(b.item())
    close(np.array(lossesp), np.array(lossest), rtol * 1e3, atol * 1e3, "loss curve")
    assert lossesp[-1] < lossesp[0], f"10 Adam steps did not lower the loss: {lossesp}"
    # 3. eval mode (running statistics) agrees too
    pmodel.eval()
    tmodel.eval()
    with pydl.no_grad(), torch.no_grad():
        close(pmodel(xp), tmodel(xt), rtol * 1e3, atol * 1e3, "eval output")


def images(n, c, h, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, c, h, h)).astype(dtype)


def labels(n, k, seed=1):
    return np.random.default_rng(seed).integers(0, k, n).astype(np.int64)


# ----------------------------------------------------------------------------- the rows
def test_mlp():
    pydl.manual_seed(0)
    check_model(M.MLP(3 * 5 * 5, 7, hidden=(33, 17)), TMLP(75, 7, (33, 17)), images(9, 3, 5), labels(9, 7))


@pytest.mark.parametrize("classic", [False, True])
@pytest.mark.parametrize("size", [28, 32])
def test_lenet(size, classic):
    pydl.manual_seed(0)
    check_model(M.LeNet5(1, 10, input_size=size, classic=classic), TLeNet(1, 10, 2 if size == 28 else 0, classic),
                images(3, 1, size), labels(3, 10))


def test_lenet_rejects_other_sizes():
    with pytest.raises(ValueError, match="input_size"):
        M.LeNet5(input_size=30)


def test_alexnet():
    pydl.manual_seed(0)
    p = M.AlexNet(3, 5, width=0.05, fc=24, dropout=0.0, small_input=True)
    c = [max(1, int(round(v * 0.05))) for v in (96, 256, 384, 384, 256)]
    check_model(p, TAlexNet(3, 5, c, 24), images(2, 3, 19), labels(2, 5))


@pytest.mark.parametrize("cfg", ["A", "D"])
def test_vgg(cfg):
    pydl.manual_seed(0)
    p = M.VGG(cfg, 3, 6, width=1 / 16, batch_norm=True, pool_size=1, fc=16, dropout=0.0)
    tcfg = [v if v == "M" else max(1, int(round(v / 16))) for v in M.vgg.CONFIGS[cfg]]
    check_model(p, TVGG(tcfg, 3, 6, True, 1, 16), images(2, 3, 32), labels(2, 6))


def test_vgg_without_bn_pool7():
    pydl.manual_seed(0)
    p = M.VGG("A", 1, 4, width=1 / 32, batch_norm=False, pool_size=7, fc=8, dropout=0.0)
    tcfg = [v if v == "M" else max(1, int(round(v / 32))) for v in M.vgg.CONFIGS["A"]]
    check_model(p, TVGG(tcfg, 1, 4, False, 7, 8), images(2, 1, 32), labels(2, 4))


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("small", [True, False])
def test_resnet(kind, small):
    pydl.manual_seed(0)
    block, tblock = (M.BasicBlock, TBasic) if kind == "basic" else (M.Bottleneck, TBottleneck)
    widths, layers = (4, 8, 8), [2, 1, 1]
    p = M.ResNet(block, layers, num_classes=5, in_channels=3, widths=widths, small_input=small)
    check_model(p, TResNet(tblock, layers, 5, 3, widths, small), images(3, 3, 17 if small else 33), labels(3, 5))


def test_resnet_layouts():
    """The named layouts at full width have as many parameters as their torch twins."""
    n = (lambda m: sum(int(np.prod(p.shape)) for p in m.parameters()))
    assert n(M.resnet18()) == n(TResNet(TBasic, [2, 2, 2, 2], 1000, 3, (64, 128, 256, 512), False))
    assert n(M.resnet34()) == n(TResNet(TBasic, [3, 4, 6, 3], 1000, 3, (64, 128, 256, 512), False))
    assert n(M.resnet50()) == n(TResNet(TBottleneck, [3, 4, 6, 3], 1000, 3, (64, 128, 256, 512), False))
    assert n(M.resnet20_cifar(num_classes=10)) == n(TResNet(TBasic, [3, 3, 3], 10, 3, (16, 32, 64), True))


@pytest.mark.parametrize("aux", [False, True])
def test_googlenet(aux):
    pydl.manual_seed(0)
    p = M.GoogLeNet(4, 1, width=1 / 16, aux_logits=aux, small_input=True, dropout=0.0, aux_dropout=0.0)
    t = TGoogLeNet(4, 1, 1 / 16, aux)
    if not aux:
        check_model(p, t, images(2, 1, 16), labels(2, 4))
        return
    # with auxiliary heads: training forward returns three logits; the loss is torchvision's recipe
    p.double()
    t.double()
    copy_weights(p, t)
    x = images(2, 1, 16)
    y = labels(2, 4)
    op, ot = p(pydl.tensor(x)), t(torch.from_numpy(x))
    for a, b, w in zip(op, ot, ("logits", "aux2", "aux1")):
        close(a, b, 1e-9, 1e-10, w)
    lp = F.cross_entropy(op[0], pydl.tensor(y)) + 0.3 * (F.cross_entropy(op[1], pydl.tensor(y))
                                                          + F.cross_entropy(op[2], pydl.tensor(y)))
    lt = tF.cross_entropy(ot[0], torch.from_numpy(y)) + 0.3 * (tF.cross_entropy(ot[1], torch.from_numpy(y))
                                                               + tF.cross_entropy(ot[2], torch.from_numpy(y)))
    lp.backward()
    lt.backward()
    tparams = dict(t.named_parameters())
    for name, prm in p.named_parameters():
        close(prm.grad, tparams[name].grad, 1e-8, 1e-9, f"grad {name}")
    p.eval()
    assert tuple(p(pydl.tensor(x)).shape) == (2, 4)


def test_googlenet_full_width_parameter_count():
    n = (lambda m: sum(int(np.prod(p.shape)) for p in m.parameters()))
    assert n(M.GoogLeNet(1000, small_input=True, aux_logits=True)) == n(TGoogLeNet(1000, 3, 1.0, True))


def test_dense_autoencoder():
    pydl.manual_seed(0)
    x = np.random.default_rng(0).random((5, 1, 6, 6))
    check_model(M.DenseAutoencoder(36, hidden=(17, 9), latent=3), TDenseAE(36, (17, 9), 3), x, x, loss_kind="mse")


def test_conv_autoencoder():
    pydl.manual_seed(0)
    x = np.random.default_rng(0).random((3, 2, 12, 8))
    check_model(M.ConvAutoencoder(2, width=5), TConvAE(2, 5), x, x, loss_kind="mse", lr=1e-2)


def test_denoising_noise_only_in_training():
    pydl.manual_seed(0)
    m = M.DenseAutoencoder(16, hidden=(8,), latent=2, noise_std=0.5)
    x = pydl.rand(4, 16)
    m.eval()
    a, b = m(x), m(x)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, d = m(x), m(x)
    assert not np.array_equal(c.detach().numpy(), d.detach().numpy())
    with pytest.raises(ValueError):
        M.DenseAutoencoder(16, noise_std=-1)


def test_dcgan_twins_and_step():
    pydl.manual_seed(0)
    g, d = M.dcgan_init_(M.Generator(6, 1, 28, width=4)), M.dcgan_init_(M.Discriminator(1, 28, width=4))
    tg, td = TGen(6, 1, 4).double(), TDisc(1, 4).double()
    g.double()
    d.double()
    copy_weights(g, tg)
    copy_weights(d, td)
    z = np.random.default_rng(0).standard_normal((3, 6))
    real = np.random.default_rng(1).uniform(-1, 1, (3, 1, 28, 28))
    fake_p, fake_t = g(pydl.tensor(z)), tg(torch.from_numpy(z))
    close(fake_p, fake_t, 1e-9, 1e-10, "generator output")
    close(d(pydl.tensor(real)), td(torch.from_numpy(real)), 1e-9, 1e-10, "discriminator logits")
    # alternating steps in both libraries give the same losses
    og, od = pydl.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999)), \
        pydl.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    tog, tod = torch.optim.Adam(tg.parameters(), lr=2e-4, betas=(0.5, 0.999)), \
        torch.optim.Adam(td.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for step in range(3):
        ld, lg = M.gan_train_step(g, d, og, od, pydl.tensor(real), pydl.tensor(z))
        ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
        fake = tg(torch.from_numpy(z))
        tod.zero_grad()
        tld = (tF.binary_cross_entropy_with_logits(td(torch.from_numpy(real)), ones)
               + tF.binary_cross_entropy_with_logits(td(fake.detach()), zeros))
        tld.backward()
        tod.step()
        tog.zero_grad()
        tlg = tF.binary_cross_entropy_with_logits(td(fake), ones)
        tlg.backward()
        tog.step()
        assert math.isclose(ld, tld.item(), rel_tol=1e-8), (step, ld, tld.item())
        assert math.isclose(lg, tlg.item(), rel_tol=1e-8), (step, lg, tlg.item())


@pytest.mark.parametrize("size", [24, 32])
def test_dcgan_sizes(size):
    g, d = M.Generator(8, 3, size, width=4), M.Discriminator(3, size, width=4)
    img = g(pydl.randn(2, 8))
    assert tuple(img.shape) == (2, 3, size, size)
    assert tuple(d(img).shape) == (2,)
    with pytest.raises(ValueError, match="image_size"):
        M.Generator(8, 1, 30)


def test_float32_lenet_matches_within_derived_tolerance():
    """Default dtype: the float32 difference to torch stays within a few float32 ulps of the float64
    reference scale (both libraries sum in different orders)."""
    pydl.manual_seed(0)
    p, t = M.LeNet5(1, 10), TLeNet(1, 10, 2, False)
    copy_weights(p, t)
    x = images(4, 1, 28, dtype=np.float32)
    out_p = p(pydl.tensor(x)).detach().numpy()
    out_t = t(torch.from_numpy(x)).detach().numpy()
    t64 = TLeNet(1, 10, 2, False).double()
    t64.load_state_dict({k: v.double() for k, v in t.state_dict().items()})
    ref = t64(torch.from_numpy(x.astype(np.float64))).detach().numpy()
    scale = np.abs(ref).max()
    err_t = np.abs(out_t - ref).max()
    assert np.abs(out_p - ref).max() <= max(4 * err_t, 64 * np.finfo(np.float32).eps * scale)
