"""Where the judge's tokens go: prompt tokens by hardening and examples shown, against all-labels.

Counts, with one model's real tokenizer and chat template (llama.cpp in-process, vocabulary only,
no inference), the prompt tokens of

* the judge prompt for the CLINC150 questions of ``judge_eval`` (true label and nearest wrong
  label), for hardening ``none``/``mask`` and ``c`` = 0, 1, 2, 3, 5 training examples shown;
* the all-labels classification prompt (150 label names + the text) for the same texts;

and the share of the all-labels tokens R.E.D. spends at judge budgets of 0.1, 0.15 and 0.2 calls
per stream text (``LoopConfig.budget`` is 0.2), assuming ``--answer-tokens`` completion tokens per
judgement and per classification (both measured by ``judge_eval``). Needs ``llama-cpp-python``
(``make llm-server-deps``)::

    python benchmarks/judge_prompt_tokens.py            # SmolLM2-135M's tokenizer
    python benchmarks/judge_prompt_tokens.py --model-file qwen.gguf

Prints JSON and writes ``benchmarks/results/judge_prompt_tokens_<model file stem>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judge_questions import build_questions, load_clinc
from judge_token_cost import flat_messages

from redline.core.judge_interface import JudgeContext
from redline.judge.prompt import build_judge_prompt

RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLES_SHOWN = (0, 1, 2, 3, 5)
BUDGETS = (0.1, 0.15, 0.2)


def main(argv: Sequence[str] | None = None) -> int:
    """Count the tokens; print and write the JSON result."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model-file", help="GGUF whose tokenizer counts (default: SmolLM2-135M)")
    p.add_argument("--n", type=int, default=40, help="CLINC150 test texts (as judge_eval --n)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge-answer-tokens", type=float, default=2.5,
                   help="completion tokens per judgement (judge_eval measures about 2-3)")
    p.add_argument("--flat-answer-tokens", type=float, default=10.0,
                   help="completion tokens per all-labels classification (a label name)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from redline.testing.llm_server import fetch_smollm2

    model_file = Path(args.model_file) if args.model_file else fetch_smollm2()
    llm = Llama(str(model_file), vocab_only=True, verbose=False)  # the tokenizer only: no weights
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        p.error(f"{model_file.name} has no chat template")
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=llm.detokenize([llm.token_eos()]).decode(errors="replace"),
        bos_token=llm.detokenize([llm.token_bos()]).decode(errors="replace"),
    )

    def prompt_tokens(messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt the server builds from ``messages`` (its chat template applied)."""
        prompt = formatter(messages=messages).prompt  # type: ignore[arg-type]
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    questions = [q for q in build_questions(args.n, seed=args.seed) if q.kind != "injected"]
    judge: dict[str, dict[str, float]] = {}
    for hardening in ("none", "mask"):
        judge[hardening] = {}
        for c in EXAMPLES_SHOWN:
            counts = [
                prompt_tokens(build_judge_prompt(q.text, q.label, JudgeContext(examples=q.examples),
                                                 max_examples=c, hardening=hardening).messages())
                for q in questions
            ]
            judge[hardening][str(c)] = round(float(np.mean(counts)), 1)
            print(f"[judge_prompt_tokens] {hardening} c={c}: {judge[hardening][str(c)]}", file=sys.stderr)
    train, _ = load_clinc()
    labels = sorted({lab for _, lab in train})
    texts = sorted({q.text for q in questions})
    flat_prompt = float(np.mean([prompt_tokens(flat_messages(t, labels)) for t in texts]))
    flat_total = flat_prompt + args.flat_answer_tokens
    shares = {
        hardening: {
            c: {str(b): round(b * (tokens + args.judge_answer_tokens) / flat_total, 4) for b in BUDGETS}
            for c, tokens in by_c.items()
        }
        for hardening, by_c in judge.items()
    }
    result = {
        "benchmark": "judge_prompt_tokens",
        "tokenizer": model_file.name,
        "questions": len(questions),
        "judge_prompt_tokens": judge,
        "judge_answer_tokens": args.judge_answer_tokens,
        "flat_prompt_tokens": round(flat_prompt, 1),
        "flat_answer_tokens": args.flat_answer_tokens,
        "labels_in_flat_prompt": len(labels),
        "red_share_of_flat_tokens": shares,
        "note": "share = budget (judge calls per stream text) x judge tokens / all-labels tokens; keys: "
        "hardening -> examples shown (c) -> budget",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"judge_prompt_tokens_{model_file.stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
