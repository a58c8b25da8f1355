"""The sentence-transformers adapter on a tiny model built offline (optional extra).

Skipped, with the reason, where the ``embeddings`` extra (sentence-transformers and
torch 2.13.0 CPU) is not installed: it is heavy and nothing else needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

st = pytest.importorskip(
    "sentence_transformers",
    reason="optional extra: pip install -e '.[embeddings]' (sentence-transformers, torch)",
)


def tiny_model(root: Path) -> Path:
    """A random 1-layer BERT with a 20-word vocabulary, saved as a sentence-transformer."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "stock", "market"]
    words += [f"w{i}" for i in range(11)]
    wordpiece = Tokenizer(WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer()
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(root / "bert")
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(root / "bert")
    try:  # sentence-transformers 6 moved the modules; 3-5 have them under `models`
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    word = Transformer(str(root / "bert"), max_seq_length=16)
    pooling = Pooling(word.get_word_embedding_dimension())
    st.SentenceTransformer(modules=[word, pooling], device="cpu").save(str(root / "tiny"))
    return root / "tiny"


def test_a_local_sentence_transformer_embeds_texts(tmp_path: Path) -> None:
    from strategies.embedders import sentence_transformer

    embed = sentence_transformer(str(tiny_model(tmp_path)))
    X = embed(["cat dog", "stock market", "cat dog"])
    assert X.shape == (3, 8) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(X[0], X[2], rtol=1e-5)  # deterministic
    assert not np.allclose(X[0], X[1])
