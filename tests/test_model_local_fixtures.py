"""Tiny local models for the embedb.model tests, built in-process with transformers and
tokenizers (no downloads), plus checks that the builders produce loadable folders.

A folder is a plain Hugging Face layout: config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, vocab.txt; sentence-transformers folders add modules.json and
1_Pooling/config.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

WORDS = (
    "the a an of to in and is was for on with as by at from that this it be are "
    "artificial intelligence academic discipline founded alan turing person research ai born "
    "london england raised southern where what who when how why fox dog quick brown lazy jumps "
    "over cat sat mat machine learning model vector database search query document paris capital "
    "france river city music play game chess program logic theory conference dartmouth"
).split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?'-")


def vocab_list() -> list:
    pieces = LETTERS + ["##" + c for c in LETTERS]
    return SPECIALS + pieces + [w for w in WORDS if w not in pieces]


def write_tokenizer(folder: Path) -> None:
    """A lowercasing BERT WordPiece tokenizer saved as tokenizer.json + vocab.txt + config."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab = {tok: i for i, tok in enumerate(vocab_list())}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "vocab.txt").write_text("\n".join(vocab_list()) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }))
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }))


def tiny_config(**overrides):
    from transformers import BertConfig

    params = dict(vocab_size=len(vocab_list()), hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                  pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    params.update(overrides)
    return BertConfig(**params)


def build_bert(folder: Path, kind: str = "model", seed: int = 0, **config) -> Path:
    """Save a randomly initialised tiny BERT (``kind``: model, masked-lm, sequence-classification,
    token-classification) with its tokenizer into ``folder``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    classes = {
        "model": transformers.BertModel,
        "masked-lm": transformers.BertForMaskedLM,
        "sequence-classification": transformers.BertForSequenceClassification,
        "token-classification": transformers.BertForTokenClassification,
    }
    cfg = tiny_config(**config)
    model = classes[kind](cfg).eval()
    # random init leaves LayerNorm at identity and biases at zero; perturb every tensor so a
    # wrong bias or gamma shows up in the outputs
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        if kind == "sequence-classification":  # spread the scores so rankings are not near-ties
            model.classifier.weight.mul_(30.0)
    model.save_pretrained(str(folder), safe_serialization=True)
    write_tokenizer(folder)
    return folder


def build_xlm_roberta(folder: Path, seed: int = 0) -> Path:
    """A tiny XLM-RoBERTa encoder (BGE-M3's architecture) with a Unigram tokenizer:
    ``<s> ... </s>`` around each text, pad id 1, positions offset by pad + 1."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    pieces = ["\u2581" + w for w in WORDS] + [chr(c) for c in range(97, 123)] + ["\u2581"]
    vocab = [(t, 0.0) for t in specials] + [(p, -1.0 - i * 0.01) for i, p in enumerate(pieces)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    XLMRobertaTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<unk>", model_max_length=64,
    ).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=64, max_position_embeddings=66,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = XLMRobertaModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def make_sentence_transformer_folder(folder: Path, pooling: str = "mean", max_seq_length: int = 48,
                                     normalize: bool = True) -> Path:
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    hidden = json.loads((folder / "config.json").read_text())["hidden_size"]
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    return folder


def torch_hidden_states(folder: Path, texts: list, max_length: int) -> list:
    """Reference: per text (one at a time, no padding) the last hidden states from transformers."""
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    model = BertModel.from_pretrained(str(folder)).eval()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tok.encode(text).ids])
            out.append(model(input_ids=ids).last_hidden_state[0].numpy())
    return out


TEXTS = [
    "Alan Turing was born in London",
    "the quick brown fox jumps over the lazy dog",
    "",
    "What is the capital of France?",
    "xyzzy unknownword Ünïcödé",
    " ".join(["machine learning model"] * 30),  # longer than max length
    "a",
]


# -- checks of the builders themselves ------------------------------------------------------

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_tokenizer_builder_round_trips(tmp_path):
    from tokenizers import Tokenizer

    write_tokenizer(tmp_path)
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ids = tok.encode("Alan Turing").ids
    vocab = vocab_list()
    assert [vocab[i] for i in ids] == ["[CLS]", "alan", "turing", "[SEP]"]
    # unknown words fall back to letters, not [UNK]
    assert "[UNK]" not in [vocab[i] for i in tok.encode("zzq").ids]


def test_tiny_bert_loads_back_with_transformers(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    build_bert(tmp_path)
    model = AutoModel.from_pretrained(str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    assert model.config.hidden_size == 32
    assert tokenizer("alan turing")["input_ids"] == [2, vocab_list().index("alan"),
                                                     vocab_list().index("turing"), 3]
    states = torch_hidden_states(tmp_path, ["alan turing"], 64)
    assert states[0].shape == (4, 32) and np.isfinite(states[0]).all()
