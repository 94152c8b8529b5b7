"""Tiny random Hugging Face models saved as local folders (model + processor), as a user's offline
copies of the real ones would be: the cascade and CLIPSeg load them with from_pretrained, no download."""

from __future__ import annotations

from pathlib import Path

WORDS = ["cat", "dog", "lion", "the", "left", "right", "a", "person", "horse", "bird", "in", "of", "front", "behind"]


def bert_vocab(folder: Path) -> Path:
    """A 1100-token WordPiece vocabulary with bert-base-uncased's special ids ([CLS] 101, [SEP] 102, '.' 1012)."""
    vocab = [f"[unused{i}]" for i in range(1100)]
    for i, t in {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: "."}.items():
        vocab[i] = t
    for i, w in enumerate(WORDS):
        vocab[200 + i] = w
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return folder / "vocab.txt"


def grounding_dino(folder: Path) -> Path:
    import torch
    import transformers as tf

    swin = dict(model_type="swin", image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                window_size=4, out_indices=[2, 3, 4])
    bert = dict(model_type="bert", vocab_size=1100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=64)
    config = tf.GroundingDinoConfig(backbone_config=swin, text_config=bert, d_model=32, encoder_layers=1, decoder_layers=2,
                                    encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                                    decoder_attention_heads=2, num_queries=10, num_feature_levels=3, max_text_len=32,
                                    encoder_n_points=2, decoder_n_points=2)
    model = tf.GroundingDinoForObjectDetection(config)
    with torch.no_grad():  # text features of zero: every box scores sigmoid(0) = 0.5, so thresholds decide (tests)
        model.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after.weight.zero_()
        model.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after.bias.zero_()
    model.save_pretrained(folder)
    tokenizer = tf.BertTokenizerFast(vocab_file=str(bert_vocab(folder / "vocab")), do_lower_case=True)
    images = tf.GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    tf.GroundingDinoProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def sam(folder: Path) -> Path:
    import transformers as tf

    config = tf.SamConfig(
        vision_config=dict(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                           patch_size=16, mlp_dim=64, global_attn_indexes=[1], window_size=2, num_pos_feats=8),
        prompt_encoder_config=dict(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                                 iou_head_hidden_dim=16))
    tf.SamModel(config).save_pretrained(folder)
    images = tf.SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
                                  mask_size={"longest_edge": 16}, mask_pad_size={"height": 16, "width": 16})
    tf.SamProcessor(image_processor=images).save_pretrained(folder)
    return folder


def vitmatte(folder: Path) -> Path:
    import transformers as tf

    config = tf.VitMatteConfig(backbone_config=dict(model_type="vitdet", hidden_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, mlp_ratio=2, image_size=64, patch_size=16,
                                                    num_channels=4, out_features=["stage2"]),
                               hidden_size=32, convstream_hidden_sizes=[8, 16, 16], fusion_hidden_sizes=[16, 16, 8, 8])
    tf.VitMatteForImageMatting(config).save_pretrained(folder)
    tf.VitMatteImageProcessor().save_pretrained(folder)
    return folder


def cascade_config(folder: Path, **changes) -> Path:
    """A cascade JSON config naming three tiny local folders (what an offline user writes for real ones)."""
    import json

    models = {"detector": grounding_dino(folder / "gdino"), "segmenter": sam(folder / "sam"),
              "matter": vitmatte(folder / "vitmatte")}
    path = folder / "cascade-tiny.json"
    path.write_text(json.dumps({"family": "cascade", **{k: str(v) for k, v in models.items()}, **changes}))
    return path


def clipseg(folder: Path) -> Path:
    """CLIPSeg's tiny config saved as a transformers folder (as CIDAS/clipseg-rd64-refined is, downloaded)."""
    import transformers as tf

    from clipmat import get_config

    tf.CLIPSegForImageSegmentation(tf.CLIPSegConfig(**get_config("clipseg-tiny").hf_config)).save_pretrained(folder)
    return folder
