"""How fast the embedded model generates on one thread and on every core, prompt processing on every
core in both (the thread policy of `pipeline.model.embedded.runtime`: generation used cores-1 threads
before it ran on every core of an idle machine).

Usage:
    python bench/threads.py [--repeat N] [THREADS ...]

Default generation thread counts: 1 and every core. For each count it loads the model, then times a
grammar-constrained request like a restatement's (a Chinese sentence put back into English, a JSON
object of one string), with the context reset before each run so every run processes the same prompt.
Prints seconds, prompt and output tokens, and output tokens per second (the best of N runs). Run it on
an otherwise idle machine: under load, more threads than free cores collapse (runtime.py's docstring).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from pipeline.core.config import load_settings
from pipeline.model.embedded import joined_model_path
from pipeline.model.embedded.runtime import cpu_count, llama_grammar

SYSTEM = ("You translate one sentence of a paper summary from Simplified Chinese into clear, natural English. "
          'Answer with one JSON object: {"en": "<the English sentence>"}.')
CHINESE = ("作为计算机视觉中最基础的研究领域之一，语义分割旨在为每个像素分配一个语义类别，"
           "在过去十年中受到了广泛关注。本文提出的方法比依赖自注意力的分割方法更加高效。")
SCHEMA = {"type": "object", "properties": {"en": {"type": "string"}}, "required": ["en"],
          "additionalProperties": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("threads", nargs="*", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from llama_cpp import Llama

    path = joined_model_path(load_settings(dict(os.environ)))
    grammar = llama_grammar(SCHEMA)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Chinese: {CHINESE}"}]
    print(f"{'threads':>7} {'s':>6} {'in':>4} {'out':>4} {'tok/s':>6}")
    for n in args.threads or sorted({1, cpu_count()}):
        llama: Any = Llama(model_path=str(path), n_ctx=2048, n_threads=n, n_threads_batch=cpu_count(), verbose=False,
                           seed=0)
        best: tuple[float, int, int] | None = None
        for _ in range(args.repeat):
            llama.reset()
            started = time.perf_counter()
            reply: Any = llama.create_chat_completion(messages=messages, grammar=grammar, temperature=0.0,
                                                      max_tokens=160)
            seconds = time.perf_counter() - started
            usage = reply["usage"]
            if best is None or seconds < best[0]:
                best = (seconds, usage["prompt_tokens"], usage["completion_tokens"])
        assert best is not None
        seconds, prompt, output = best
        print(f"{n:>7} {seconds:>6.2f} {prompt:>4} {output:>4} {output / seconds:>6.1f}")
        del llama


if __name__ == "__main__":
    main()
