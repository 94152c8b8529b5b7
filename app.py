"""A Hugging Face Space (Gradio SDK) or any machine: ``python app.py`` serves CLIPMat's page and JSON API.

It serves the model folder ./model (write it with ``clipmat export CKPT --format hf --out model``),
or what CLIPMAT_MODEL names (a checkpoint, a model folder or hf:REPO_ID), on
GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 0.0.0.0:7860, what Spaces expect). Optional:
CLIPMAT_REFINER (a refiner checkpoint), CLIPMAT_DEVICE (cpu, cuda). See README, "Serve".
"""

from clipmat.serve import run_space

if __name__ == "__main__":
    run_space()
