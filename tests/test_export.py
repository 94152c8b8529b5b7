"""clipmat export --format onnx: dynamic sizes, parity with PyTorch, predict on onnxruntime (issue 18, part 3)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from clipmat import build_model, load_checkpoint, save_checkpoint
from clipmat.cli import app

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    ckpt = save_checkpoint(build_model("tiny"), folder / "tiny.safetensors")
    r = runner.invoke(app, ["export", str(ckpt), "--format", "onnx", "--out", str(folder / "tiny.onnx")])
    assert r.exit_code == 0, r.output
    return ckpt, folder / "tiny.onnx", r.output


def test_the_graph_matches_pytorch_at_two_sizes_and_any_batch(exported):
    from clipmat.export import OnnxMatte, parity

    ckpt, onnx_path, output = exported
    assert "max |onnxruntime - PyTorch| 96x64: alpha" in output and "details" in output
    checked = parity(load_checkpoint(ckpt), onnx_path, sizes=((64, 96), (160, 128), (32, 224)))
    assert len(checked) == 3, checked
    for diffs in checked.values():  # the continuous heads too: a random model's alpha is mostly a hard 0 or 1
        assert diffs["alpha"] <= 1e-3 and diffs["details"] <= 1e-4 and diffs["trimap_logits"] <= 1e-4, checked
    session = OnnxMatte(onnx_path).session
    dims = {i.name: i.shape for i in session.get_inputs()}
    assert all(isinstance(d, str) for d in dims["image"][::2] + dims["image"][3:]) and isinstance(dims["tokens"][1], str)


def test_predict_runs_the_onnx_file_like_the_checkpoint(exported, tmp_path):
    ckpt, onnx_path, _ = exported
    image = tmp_path / "odd.png"
    cv2.imwrite(str(image), (np.random.default_rng(1).random((77, 101, 3)) * 255).astype(np.uint8))
    for model, out in ((ckpt, "torch.png"), (onnx_path, "onnx.png")):
        r = runner.invoke(app, ["predict", str(model), str(image), "the dog on the left", "--out", str(tmp_path / out),
                                "--device", "cpu"])
        assert r.exit_code == 0, r.output
    a, b = (cv2.imread(str(tmp_path / n), cv2.IMREAD_GRAYSCALE).astype(int) for n in ("torch.png", "onnx.png"))
    assert a.shape == b.shape == (77, 101) and np.abs(a - b).max() <= 1  # 8-bit rounding at most


def test_what_does_not_export_is_one_sentence(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    ckpt = save_checkpoint(build_model("refiner-tiny"), tmp_path / "refiner.safetensors")
    r = runner.invoke(app, ["export", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "r.onnx")])
    assert r.exit_code == 2 and "exports CLIPMat only" in r.output and not (tmp_path / "r.onnx").exists()
    r = runner.invoke(app, ["export", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "r.png")])
    assert r.exit_code == 2 and "must end in .onnx" in r.output
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)]),
              str(tmp_path / "foreign.onnx"))
    image = tmp_path / "i.png"
    cv2.imwrite(str(image), np.zeros((40, 40, 3), np.uint8))
    r = runner.invoke(app, ["predict", str(tmp_path / "foreign.onnx"), str(image), "cat", "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 2 and "was not exported by clipmat" in r.output
