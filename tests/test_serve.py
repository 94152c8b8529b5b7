"""clipmat serve: the JSON API, the Gradio page in a real headless Chromium, app.py as a Space runs it (issue 18, part 2)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from clipmat.cli import app
from tests import browser

pytest.importorskip("gradio", reason="pip install -e '.[serve]' (setup.sh installs it)")
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo(demo):
    """A composite of the demo's test split and its keyword: (path, keyword)."""
    import pandas as pd

    row = pd.read_parquet(demo / "manifests/test.parquet").iloc[0]
    return demo / "manifests" / row.image_path, row.keyword


@pytest.fixture(scope="module")
def client(tiny_ckpt):
    from fastapi.testclient import TestClient

    from clipmat import load_checkpoint
    from clipmat.serve import Matter, create_app

    with TestClient(create_app(Matter(load_checkpoint(tiny_ckpt, "cpu"), source=tiny_ckpt))) as c:
        yield c


def png(b64: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


def composite_of(image: Path, alpha: np.ndarray, backdrop) -> np.ndarray:
    """BGR: what the composite must be (batch.render over the same backdrop), to compare within JPEG's error."""
    from clipmat.batch import render

    rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    return render(rgb, alpha.astype(np.float32) / 255, False, backdrop)["composite"][..., ::-1]


def expected_alpha(tiny_ckpt, photo, tmp_path) -> np.ndarray:
    """What `clipmat predict` writes for the same image and phrase."""
    out = tmp_path / "predict.png"
    r = runner.invoke(app, ["predict", str(tiny_ckpt), str(photo[0]), photo[1], "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    return cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)


def test_json_and_form_answer_what_predict_writes(client, tiny_ckpt, photo, tmp_path):
    image, keyword = photo
    want = expected_alpha(tiny_ckpt, photo, tmp_path)
    info = client.get("/api/info").json()
    assert info["model"] == tiny_ckpt.name and info["family"] == "clipmat"  # the file name, not the server's path
    body = {"image": base64.b64encode(image.read_bytes()).decode(), "text": keyword, "composite": "#00ff00"}
    r = client.post("/api/matte", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["setting"] == "keyword" and keyword in d["text"] and (d["height"], d["width"]) == want.shape
    alpha, cutout, composite = png(d["alpha"]), png(d["cutout"]), png(d["composite"])
    assert np.array_equal(alpha, want)
    assert cutout.shape == (*want.shape, 4) and np.array_equal(cutout[..., 3], want)
    assert np.abs(composite.astype(int) - composite_of(image, want, "#00ff00")).mean() < 2  # JPEG quality 95
    form = client.post("/api/matte", files={"image": ("x.jpg", image.read_bytes())},
                       data={"text": keyword, "outputs": "alpha"})
    assert form.status_code == 200 and set(form.json()) >= {"alpha"} and "cutout" not in form.json()
    assert np.array_equal(png(form.json()["alpha"]), want)
    url = "data:image/jpeg;base64," + body["image"]  # a data URL is accepted as it comes from a browser
    assert client.post("/api/matte", json={**body, "image": url}).status_code == 200


def test_bad_requests_get_one_sentence_and_no_server_file_is_read(client, photo, monkeypatch):
    image, keyword = photo
    ok = base64.b64encode(image.read_bytes()).decode()

    def error(status, **kw):
        r = client.post("/api/matte", **kw)
        assert r.status_code == status, r.text
        return r.json()["error"]

    assert "not valid base64" in error(400, json={"image": "%%%", "text": "cat"})
    said = error(400, json={"image": "aGVsbG8=", "text": "cat"})
    assert "uploaded image: missing or not a readable image" in said and "clipmat-upload" not in said  # no server path
    assert "phrase is empty" in error(400, json={"image": ok, "text": "  "})
    assert "not a colour" in error(400, json={"image": ok, "text": "cat", "composite": str(image)})  # never a path
    assert "must be a string" in error(400, json={"image": ok, "text": ["cat"]})
    assert "outputs must be a list" in error(400, json={"image": ok, "text": "cat", "outputs": ["../x"]})
    assert "outputs must be a list" in error(400, json={"image": ok, "text": "cat", "outputs": [{}]})
    assert "setting must be one of auto" in error(400, json={"image": ok, "text": "cat", "setting": "both"})
    for bad in ("rgb(1..,0,0)", "#" + "f" * 400, "rgb(" + "9" * 400 + ",0,0)"):
        assert "not a colour" in error(400, json={"image": ok, "text": "cat", "composite": bad})
    assert "not valid JSON" in error(400, content=b"[" * 100000, headers={"content-type": "application/json"})
    many = {f"f{i}": (f"{i}.jpg", b"x") for i in range(3)}  # starlette's own limit, said as ours
    assert "form cannot be read (Too many files" in error(400, files=many, data={"text": "cat"})
    assert "needs an image file" in error(400, content=b"--x\r\nnonsense",
                                          headers={"content-type": "multipart/form-data; boundary=x"})
    assert "JSON object" in error(400, content=b"[1]", headers={"content-type": "application/json"})
    assert "send JSON" in error(400, content=b"x", headers={"content-type": "text/plain"})
    assert "needs an image file" in error(400, data={"text": "cat"}, files={"other": ("a", b"b")})
    monkeypatch.setenv("REFMATTE_MAX_PIXELS", "100")  # decoding is capped before it starts
    assert "over the pixel cap" in error(400, json={"image": ok, "text": "cat"})


def test_uploads_over_the_limit_are_refused(client, photo, monkeypatch):
    data = photo[0].read_bytes()
    monkeypatch.setattr("clipmat.serve.MAX_UPLOAD_BYTES", len(data) // 2)  # the image is over it, the request not
    r = client.post("/api/matte", files={"image": ("x.jpg", data)}, data={"text": "cat"})
    assert r.status_code == 400 and "uploaded image is over the limit of" in r.json()["error"], r.text
    r = client.post("/api/matte", json={"image": base64.b64encode(data).decode(), "text": "cat"})
    assert r.status_code == 400 and "image is over the limit of" in r.json()["error"], r.text
    monkeypatch.setattr("clipmat.serve.MAX_REQUEST_BYTES", len(data))
    big = {"image": base64.b64encode(data).decode(), "text": "cat"}
    r = client.post("/api/matte", json=big)
    assert r.status_code == 413 and "the request is over" in r.json()["error"], r.text

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield data
    r = client.post("/api/matte", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "the request is over" in r.json()["error"], r.text


def test_the_composite_is_over_the_colour_or_the_uploaded_background(client, photo, monkeypatch):
    image, keyword = photo
    h, w = cv2.imread(str(image)).shape[:2]

    def half(model, rgb, texts, *args):  # the model's place: a matte of the left half (the backdrop shows right)
        alpha = np.zeros((len(texts), h, w), np.float32)
        alpha[:, :, : w // 2] = 1
        return alpha
    monkeypatch.setattr("clipmat.infer.predict_alpha", half)
    green = np.zeros((40, 60, 3), np.uint8)
    green[..., 1] = 255
    ok, bg = cv2.imencode(".png", green[..., ::-1])
    base = {"image": base64.b64encode(image.read_bytes()).decode(), "text": keyword}
    for extra, colour_bgr in (({"composite": "#ff0000"}, [0, 0, 255]),
                              ({"background": base64.b64encode(bg.tobytes()).decode()}, [0, 255, 0])):
        d = client.post("/api/matte", json={**base, **extra}).json()
        composite = png(d["composite"]).astype(int)
        assert np.abs(composite[:, w // 2 + 8:] - colour_bgr).mean() < 3, extra  # JPEG at quality 95
        assert np.abs(composite[:, : w // 2 - 8] - cv2.imread(str(image))[:, : w // 2 - 8]).mean() < 3
    form = client.post("/api/matte", files={"image": ("x.jpg", image.read_bytes()), "background": ("g.png", bg.tobytes())},
                       data={"text": keyword, "outputs": "alpha, composite"})
    assert form.status_code == 200 and "cutout" not in form.json()
    assert np.array_equal(png(form.json()["composite"]), png(d["composite"]))


def test_a_full_queue_is_told_to_come_back(client, photo, monkeypatch):
    body = {"image": base64.b64encode(photo[0].read_bytes()).decode(), "text": photo[1]}
    from clipmat.serve import MAX_WAITING

    monkeypatch.setattr(client.app.state.matter, "waiting", MAX_WAITING + 1)
    r = client.post("/api/matte", json=body)
    assert r.status_code == 503 and "busy" in r.json()["error"] and r.headers["retry-after"] == "5"


def test_the_pages_api_takes_only_files_uploaded_through_it(client, photo, tmp_path):
    """Gradio's own route for the page's call: a server path or a data: URL is refused, not read."""
    image, keyword = photo
    secret = tmp_path / "secret.png"  # an image on the server, outside Gradio's upload folder
    secret.write_bytes(image.read_bytes())
    url = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    for payload, said in (({"path": str(secret), "meta": {"_type": "gradio.FileData"}}, "not uploaded by a user"),
                          ({"path": str(secret)}, "uploaded through the page, not a path on the server"),
                          ({"path": None, "url": url}, "must be a file uploaded through the page")):
        r = client.post("/gradio_api/call/matte", json={"data": [payload, keyword, "auto", "#ffffff", None]})
        assert r.status_code == 200, r.text
        events = client.get(f"/gradio_api/call/matte/{r.json()['event_id']}").text
        assert "event: error" in events and said in events and "event: complete" not in events, events[:500]


def test_the_page_mattes_an_upload_in_headless_chromium(tiny_ckpt, photo, tmp_path):
    if not (browser.find(browser.BROWSERS) and browser.find(browser.DRIVERS)):
        pytest.skip("no chromium / chromedriver on PATH (bash setup.sh installs them)")  # under CI: a failure
    pytest.importorskip("selenium", reason="pip install -e '.[dev]' (setup.sh installs it)")
    want = expected_alpha(tiny_ckpt, photo, tmp_path)
    port = browser.free_port()
    server, driver = browser.start_server([str(tiny_ckpt), "--device", "cpu"], port), None
    try:
        driver = browser.chrome(tmp_path / "profile")
        got = browser.submit(driver, f"http://127.0.0.1:{port}/", photo[0], photo[1])
        shown = cv2.imdecode(np.frombuffer(browser.fetch(got["alpha"]), np.uint8), cv2.IMREAD_UNCHANGED)
        cut = cv2.imdecode(np.frombuffer(browser.fetch(got["cutout"]), np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(30)
    assert np.array_equal(shown if shown.ndim == 2 else shown[..., 0], want)  # the page shows predict's matte
    assert cut.shape == (*want.shape, 4) and np.array_equal(cut[..., 3], want)
    assert "keyword" in got["status"] and "pixels above 0.5" in got["status"]
    stem = photo[0].stem
    assert sorted(got["downloads"]) == [f"{stem}_alpha.png", f"{stem}_composite.jpg", f"{stem}_cutout.png"], got


def test_app_py_serves_what_clipmat_model_names_like_a_space(tiny_ckpt, tmp_path):
    port = browser.free_port()
    env = {**os.environ, "CLIPMAT_MODEL": str(tiny_ckpt), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "CLIPMAT_DEVICE": "cpu"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        browser.wait_for(f"http://127.0.0.1:{port}/api/info", proc, 120)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info") as r:
            assert json.load(r)["model"] == tiny_ckpt.name
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            assert r.status == 200 and "CLIPMat: referring image matting" in r.read().decode()  # the page config
    finally:
        proc.terminate()
        proc.wait(30)
    env["CLIPMAT_MODEL"] = str(tmp_path / "nowhere")
    r = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "does not exist: write one with clipmat export" in r.stderr, r.stderr


def test_serve_refuses_a_taken_port_and_a_refiner_as_the_model(tiny_ckpt):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = runner.invoke(app, ["serve", str(tiny_ckpt), "--port", str(s.getsockname()[1])])
    assert r.exit_code == 2 and "cannot listen on 127.0.0.1" in r.output and "give another --host or --port" in r.output
    r = runner.invoke(app, ["serve", str(tiny_ckpt.parent / "missing.safetensors"), "--port", str(browser.free_port())])
    assert r.exit_code == 2 and "missing.safetensors" in r.output and "Traceback" not in r.output


def test_download_folders_of_killed_servers_go_when_the_next_starts():
    import tempfile

    from clipmat.serve_page import _Downloads

    tmp = Path(tempfile.gettempdir())
    dead, alive = tmp / "clipmat-serve-999999-left", tmp / f"clipmat-serve-{os.getpid()}-mine"
    for folder in (dead, alive):
        folder.mkdir(exist_ok=True)
        (folder / "a_alpha.png").write_bytes(b"x")
    try:
        downloads = _Downloads()
        assert not dead.exists() and alive.exists() and downloads.root.name.startswith(f"clipmat-serve-{os.getpid()}-")
    finally:
        import shutil

        shutil.rmtree(alive, ignore_errors=True)
        shutil.rmtree(dead, ignore_errors=True)
