"""CLIPMat as an ONNX graph, and that graph as a model ``clipmat predict`` and ``eval`` run on onnxruntime.

Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export, then onnxscript), opset 18. Inputs:
``image`` float32 (N, 3, H, W) RGB in [0, 1] with H and W any multiples of 32 (predict snaps
every image to them) from 32 to 4096, and ``tokens`` int64 (N, L) from clipmat's tokenizer,
L from 2 to the text encoder's positions minus the context; output ``alpha`` float32
(N, 1, H, W), with the two heads it fuses, ``trimap_logits`` (N, 3, H, W) and ``details``
(N, 1, H, W), so parity is checked on continuous values too (a random or young model's alpha
is mostly the trimap's hard 0 or 1). Batch, height, width and text length are all dynamic: the two size shortcuts
of the forward pass take their general path while tracing (clipmat.model.tracing). The model
config travels in the graph's metadata (``clipmat_config``), so the file alone is enough to
predict. What does not export: ViT-L/14 (its 14 px patches do not divide the 32 px steps, so
the traced padding would fix the size), the refiner, CLIPSeg and the cascade.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from clipmat.checkpoint import CheckpointError

OPSET = 18
MAX_SIDE = 4096
METADATA = "clipmat_config"


class ExportError(RuntimeError):
    """A model this version cannot export; one sentence saying which and why."""


OUTPUTS = ("alpha", "trimap_logits", "details")


class _Heads(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image, tokens)
        return tuple(out[k] for k in OUTPUTS)


def export_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model`` (a CLIPMat) to ``path`` as ONNX (module doc), atomically."""
    import onnx

    from clipmat.model.tracing import symbolic_sizes
    from clipmat.model import tokenize
    from refmatte.atomic import atomic_path

    config = model.config
    if config.family != "clipmat":
        raise ExportError(f"{config.name} is a {config.family} model; this version exports CLIPMat only")
    patch = model.image_encoder.patch
    if 32 % patch:
        raise ExportError(f"{config.name} has {patch} px patches, which do not divide the 32 px size steps of "
                          "the exported graph; this version exports CLIPMat with 8 or 16 px patches (tiny, ViT-B-16)")
    model = model.eval().cpu()
    longest = model.text_encoder.max_length - config.context_tokens
    batch, text = torch.export.Dim("batch", min=1, max=256), torch.export.Dim("text", min=2, max=longest)
    height, width = 32 * torch.export.Dim("h32", min=1, max=MAX_SIDE // 32), 32 * torch.export.Dim("w32", min=1,
                                                                                                  max=MAX_SIDE // 32)
    example = (torch.rand(2, 3, 64, 96), tokenize(["a cat", "the dog on the left"], config.keyword_length))
    with symbolic_sizes(), torch.no_grad():
        program = torch.onnx.export(_Heads(model).eval(), example, dynamo=True, opset_version=OPSET, verbose=False,
                                    input_names=["image", "tokens"], output_names=list(OUTPUTS),
                                    dynamic_shapes={"image": {0: batch, 2: height, 3: width},
                                                    "tokens": {0: batch, 1: text}})
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA, json.dumps({"family": config.family, **config.to_dict()})
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


class OnnxMatte:
    """An exported CLIPMat on onnxruntime (CPU, or CUDA when onnxruntime-gpu has it): what predict needs."""

    runs_onnx = True

    def __init__(self, path: str | Path, device: str = "cpu"):
        import onnxruntime as ort

        from clipmat.config import config_from_dict

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} does not exist")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(device).startswith("cuda") else \
            ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), providers=[p for p in providers
                                                                      if p in ort.get_available_providers()])
        except Exception as e:  # onnxruntime raises its own types for a corrupt or foreign file
            raise CheckpointError(f"{path} is not an ONNX model onnxruntime can run ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA not in meta:
            raise CheckpointError(f"{path} was not exported by clipmat export (no {METADATA} in its metadata)")
        try:
            self.config = config_from_dict(json.loads(meta[METADATA]), source=str(path))
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path} holds an unusable model config: {e}") from None

    def __call__(self, image: np.ndarray, tokens: np.ndarray, outputs: tuple[str, ...] = ("alpha",)):
        """(N, 3, H, W) float32 in [0, 1], H and W multiples of 32; (N, L) int64 -> alpha (N, 1, H, W),
        or a list of the named ``outputs``."""
        got = self.session.run(list(outputs), {"image": np.ascontiguousarray(image, np.float32),
                                               "tokens": np.ascontiguousarray(tokens, np.int64)})
        return got[0] if outputs == ("alpha",) else got


def parity(model: torch.nn.Module, path: str | Path, sizes=((64, 96), (160, 128)), seed: int = 0) -> dict:
    """{(H, W): {output: max |onnx - torch|}} for alpha, trimap_logits and details on random images of each
    size, two phrases each."""
    from clipmat.model import tokenize

    onnx_model = OnnxMatte(path)
    g = torch.Generator().manual_seed(seed)
    tokens = tokenize(["cat", "the dog on the left of the woman"], model.config.keyword_length)
    out = {}
    for h, w in sizes:
        image = torch.rand(2, 3, h, w, generator=g)
        with torch.no_grad():
            expected = model.eval()(image, tokens)
        got = onnx_model(image.numpy(), tokens.numpy(), OUTPUTS)
        out[(h, w)] = {k: float(np.abs(v - expected[k].float().numpy()).max()) for k, v in zip(OUTPUTS, got)}
    return out
