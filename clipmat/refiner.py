"""The matting refiner of Table 2 ("Refiner: yes"): image + coarse alpha in, refined alpha out.

The paper modifies P3M (Ma et al. 2022) "to receive the original image and the predicted
alpha matte as input". P3M-Net's shape, kept here: one encoder shared by two decoders, a
semantic decoder (global trimap, 3 classes, from the deepest features through a
pyramid-pooling block) and a detail decoder (alpha, up through the encoder's skips), the
semantic features gating the detail ones at every level (P3M's bipartite feature
integration, in its simplest form), and GFM's collaboration fusing the two outputs.
The encoder is a torchvision ResNet whose first convolution takes 4 channels: RGB
(ImageNet-normalised) and the coarse alpha (as 0..1, shifted to -0.5..0.5).

Its outputs are CLIPMat's (``trimap_logits``, ``details``, ``alpha``), so
:class:`clipmat.losses.ClipMatLoss` trains it unchanged. Coarse inputs for training come
from the true matte by :func:`degrade` (and from a CLIPMat checkpoint's predictions when
``clipmat train --coarse-from`` names one).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clipmat.config import ConfigError, FamilyConfig
from clipmat.model.decoders import TRIMAP_CLASSES, collaborate, conv_bn_relu

BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}  # torchvision name: channels of its last stage
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class RefinerConfig(FamilyConfig):
    family: str = "refiner"
    backbone: str = "resnet34"  # torchvision ResNet (P3M-Net's r34 variant)
    decoder_channels: tuple[int, ...] = (256, 128, 64, 64, 32)  # per decoder level, 1/32 -> 1/2 of the input
    image_size: int = 512
    train_batch_size: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone not in BACKBONES:
            raise ConfigError(f"model config {self.name}: backbone {self.backbone!r} is not one of {', '.join(BACKBONES)}")
        if len(self.decoder_channels) != 5 or not all(type(c) is int and 0 < c <= 4096 for c in self.decoder_channels):
            raise ConfigError(f"model config {self.name}: decoder_channels must be 5 widths from 1 to 4096 "
                              "(one per level, 1/32 to 1/2 of the input)")

    @property
    def needs(self) -> str:
        return "image + a coarse matte (a CLIPMat checkpoint's, via --refiner); trained on RefMatte"


class _PyramidPool(nn.Module):
    """Global context for the semantic decoder: the features with their 1, 2 and 3-cell averages (PSP)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.cells = (1, 2, 3)
        self.reduce = nn.ModuleList(nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU(inplace=True))
                                    for _ in self.cells)
        self.out = conv_bn_relu(cin + cout * len(self.cells), cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(r(F.adaptive_avg_pool2d(x, c)), size=size, mode="bilinear", align_corners=False)
                  for c, r in zip(self.cells, self.reduce)]
        return self.out(torch.cat([x, *pooled], 1))


class Refiner(nn.Module):
    """P3M-shaped refiner (module doc). ``forward(image, coarse)``: (B, 3, H, W) in [0, 1] and
    (B, 1, H, W) in [0, 1], H and W any multiple of 32 -> CLIPMat's output dict."""

    def __init__(self, config: RefinerConfig):
        super().__init__()
        import torchvision

        self.config = config
        net = getattr(torchvision.models, config.backbone)(weights=None)
        stem = nn.Conv2d(4, 64, 7, 2, 3, bias=False)
        with torch.no_grad():  # RGB filters as the backbone's; the alpha channel starts at zero
            stem.weight.zero_()
            stem.weight[:, :3] = net.conv1.weight
        self.encoder = nn.ModuleList([nn.Sequential(stem, net.bn1, net.relu),  # 1/2
                                      nn.Sequential(net.maxpool, net.layer1),  # 1/4
                                      net.layer2, net.layer3, net.layer4])  # 1/8, 1/16, 1/32
        skips = [64] + [_out_channels(m) for m in (net.layer1, net.layer2, net.layer3, net.layer4)]
        c = config.decoder_channels
        self.context = _PyramidPool(skips[4], c[0])
        self.semantic = nn.ModuleList(conv_bn_relu(a, b) for a, b in zip(c[:-1], c[1:]))
        self.semantic_head = nn.Conv2d(c[-1], TRIMAP_CLASSES, 3, padding=1)
        self.detail_stem = conv_bn_relu(skips[4], c[0])
        self.skip = nn.ModuleList(nn.Conv2d(s, w, 1) for s, w in zip(reversed(skips[:4]), c[1:]))
        self.gate = nn.ModuleList(nn.Conv2d(w, w, 1) for w in c[1:])
        self.detail = nn.ModuleList(nn.Sequential(conv_bn_relu(a, b), conv_bn_relu(b, b)) for a, b in zip(c[:-1], c[1:]))
        self.detail_head = nn.Sequential(conv_bn_relu(c[-1] + 4, c[-1]), nn.Conv2d(c[-1], 1, 3, padding=1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def load_backbone(self, state: dict) -> None:
        """Weights of the torchvision backbone (its own key names); the alpha channel of the stem stays zero."""
        import torchvision

        net = getattr(torchvision.models, self.config.backbone)(weights=None)
        net.load_state_dict(state)
        with torch.no_grad():
            self.encoder[0][0].weight[:, :3] = net.conv1.weight
            for mine, theirs in ((self.encoder[0][1], net.bn1), (self.encoder[1][1], net.layer1), (self.encoder[2], net.layer2),
                                 (self.encoder[3], net.layer3), (self.encoder[4], net.layer4)):
                mine.load_state_dict(theirs.state_dict())

    def forward(self, image: torch.Tensor, coarse: torch.Tensor) -> dict[str, torch.Tensor]:
        if image.shape[0] != coarse.shape[0] or image.shape[-2:] != coarse.shape[-2:]:
            raise ValueError(f"image {tuple(image.shape)} and coarse matte {tuple(coarse.shape)} do not match")
        h, w = image.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"the refiner needs sides that are multiples of 32, got {w}x{h}")
        x = torch.cat([(image - self.mean) / self.std, coarse - 0.5], 1)
        feats = []
        for stage in self.encoder:
            x = stage(x)
            feats.append(x)
        s, d = self.context(feats[4]), self.detail_stem(feats[4])
        for i, skip in enumerate(reversed(feats[:4])):
            up = lambda t: F.interpolate(t, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
            s = self.semantic[i](up(s))
            d = self.detail[i](up(d)) + self.skip[i](skip)
            d = d * torch.sigmoid(self.gate[i](s))  # semantic features gate the details (P3M's sBFI)
        full = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)  # noqa: E731
        trimap_logits = self.semantic_head(full(s))
        details = torch.sigmoid(self.detail_head(torch.cat([full(d), image, coarse], 1)).float())
        return {"trimap_logits": trimap_logits, "details": details, "alpha": collaborate(trimap_logits, details)}


def build_refiner(config: RefinerConfig, weights: str | None = None) -> Refiner:
    """The refiner, its backbone random or with ``weights``: ``imagenet`` (torchvision's ImageNet
    weights, downloaded when online) or a local torchvision state-dict file (.pth or .safetensors)."""
    from clipmat.build import WeightsError

    model = Refiner(config)
    if weights is None:
        return model
    import torchvision

    if weights == "imagenet":
        try:
            state = torchvision.models.get_model_weights(config.backbone).DEFAULT.get_state_dict(progress=False)
        except Exception as e:  # offline, proxy: all end here
            raise WeightsError(f"could not get torchvision's ImageNet {config.backbone} weights ({type(e).__name__}: "
                               f"{e}); offline, download them elsewhere and pass the .pth file") from None
    else:
        from pathlib import Path

        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"backbone weights file {path} does not exist: pass a torchvision {config.backbone} "
                               "state dict (.pth or .safetensors), or 'imagenet' to download one")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a corrupt or foreign file
            raise WeightsError(f"backbone weights file {path} does not load: {type(e).__name__}: {e}") from None
    try:
        model.load_backbone(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise WeightsError(f"backbone weights {weights} do not fit torchvision's {config.backbone}: "
                           f"{str(e).splitlines()[0]}") from None
    return model


def _out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]
    return (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels


def degrade(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A coarse version of ``alpha`` (H, W) float32 in [0, 1], as a referring model might predict it:
    detail lost to a 4-16x down-and-up resampling, the outline grown or shrunk by up to 3 % of
    the short side, blurred, with p = 0.5 thresholded to a hard mask, with p = 0.25 a stray blob."""
    h, w = alpha.shape
    f = float(rng.uniform(4, 16))
    small = cv2.resize(alpha, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = int(rng.integers(0, max(1, round(0.03 * min(h, w))) + 1))
    if k:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        x = cv2.dilate(x, kernel) if rng.random() < 0.5 else cv2.erode(x, kernel)
    sigma = float(rng.uniform(0.5, 0.02 * min(h, w) + 0.5))
    x = cv2.GaussianBlur(x, (0, 0), sigma)
    if rng.random() < 0.5:
        x = (x > rng.uniform(0.2, 0.8)).astype(np.float32)
    if rng.random() < 0.25:
        r = max(1, int(rng.uniform(0.03, 0.12) * min(h, w)))
        cv2.circle(x, (int(rng.integers(w)), int(rng.integers(h))), r, float(rng.uniform(0.5, 1.0)), -1)
    return np.clip(x, 0, 1).astype(np.float32)
