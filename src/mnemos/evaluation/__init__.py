"""Evaluate memory retrieval (and answers) on LoCoMo files or a simple JSONL format.

``mnemos eval`` is the command; :func:`run_eval` the library call. The LoCoMo
loader and the scores are the ones ``benchmarks/locomo_retrieval.py`` uses.
"""

from mnemos.evaluation.datasets import (
    ADVERSARIAL,
    CATEGORIES,
    Conversation,
    EvalSet,
    Question,
    Turn,
    load_conversation,
    load_eval_set,
    load_jsonl,
    locomo_eval_set,
    turn_memories,
)
from mnemos.evaluation.runner import EvalConfig, answer_supported, parse_config, run_eval
from mnemos.evaluation.scoring import Scores, latency_summary

__all__ = [
    "ADVERSARIAL",
    "CATEGORIES",
    "Conversation",
    "EvalConfig",
    "EvalSet",
    "Question",
    "Scores",
    "Turn",
    "answer_supported",
    "latency_summary",
    "load_conversation",
    "load_eval_set",
    "load_jsonl",
    "locomo_eval_set",
    "parse_config",
    "run_eval",
    "turn_memories",
]
