"""The fast query encoder against sentence-transformers, and the model's window."""

from __future__ import annotations

import numpy as np

QUERIES = [
    "what concerns were raised about the home environment of Child E",
    "disguised compliance",
    "A baby of a few months died while sharing a bed with young parents who were care leavers and suspected of using cannabis.",
    "MASH",
]


def test_onnx_encoder_is_used_and_matches_sentence_transformers(engine, embedder):
    from indexer.embedding import OnnxQueryEncoder

    assert isinstance(engine.encoder, OnnxQueryEncoder), "the server fell back to the slow encoder"
    reference = embedder.model.encode(QUERIES, normalize_embeddings=True)
    single = np.stack([engine.encoder.encode(q) for q in QUERIES])
    batch = engine.encoder.encode_batch(QUERIES)
    assert (single * reference).sum(1).min() >= 0.9999
    assert (batch * reference).sum(1).min() >= 0.9999


def test_the_exported_graph_has_fused_attention(engine):
    import onnx

    from indexer.build import onnx_path

    path = onnx_path(engine.index_dir, engine.manifest["model"]["fingerprint"])
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("Attention") == 6  # one fused attention per layer of MiniLM-L6


def test_token_counts_use_the_models_tokenizer(embedder):
    text = "Safeguarding practitioners' caseloads"
    assert embedder.count_with_specials(text) == len(embedder.model.tokenizer(text)["input_ids"])
    assert embedder.max_seq_length == 256


def test_both_query_encoders_know_the_same_words(engine, embedder):
    # the spelling corrector leaves alone a word the model knows whole, whichever encoder serves
    from indexer.embedding import TorchQueryEncoder

    fast, slow = engine.encoder.vocabulary(), TorchQueryEncoder(embedder).vocabulary()
    assert fast == slow and len(fast) > 30_000
    assert engine.is_known_word("Bread") and not engine.is_known_word("safegaurding")
