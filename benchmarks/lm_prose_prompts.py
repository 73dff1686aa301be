"""Example 1's prompt and a few prose prompts, continued by the saved models of a language-model run (issue 14).

The chapter's Example 1 prompt (real fine-tuning block 2: the paper's prompt is in WikiText-2's training split)
ends in a list of taxonomic citations, and every generation's beam search loops on one. This asks whether
the loop is the prompt's or the model's: it continues Example 1's prompt and the first ``--prose`` fine-tuning
blocks that read as prose (``reads_as_prose``: fewer than 3 digits, fewer than 4 " , ", no "=" or line break) with
the models a run keeps
(generation 0 and the newest two while under way; :func:`collapse_lib.experiments.language_model.saved_generation_model`),
by the run's own decoding. Not a benchmark: it prints text, for the chapter's prose.

    COLLAPSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/lm_prose_prompts.py \\
        --experiment language_model_pretrained --profile book --seed 0 --setting 1
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import collapse_lib as cl  # noqa: E402
from collapse_lib.experiments import stored_run, validated_runs  # noqa: E402
from collapse_lib.experiments.language_model import reads_as_prose, saved_generation_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="language_model_pretrained")
    parser.add_argument("--profile", default="book")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setting", type=int, default=1)
    parser.add_argument("--prose", type=int, default=4, help="prose prompts besides Example 1's")
    args = parser.parse_args()
    (settings, seed), = validated_runs(args.experiment, args.profile, args.seed, {"setting": args.setting})
    for store in cl.store.search_stores():
        run = stored_run(args.experiment, settings, seed, store)
        if run.saved_models():
            break
    else:
        sys.exit(f"no saved models of {args.experiment} ({args.profile}, seed {seed}, setting {args.setting}) in "
                 f"{cl.store.search_stores()}: a run keeps them only while it is under way")
    generations = sorted({run.saved_models()[0], run.saved_models()[-1]})
    print(f"run {run.path}; models of generations {generations}")
    prompts = None
    for g in generations:
        model, corpus = saved_generation_model(args.experiment, settings, seed, g, run.store)
        if prompts is None:
            texts = [corpus.codec.decode(b) for b in corpus.train_blocks]
            picks = [i for i, text in enumerate(texts) if reads_as_prose(text)][:args.prose]
            prompts = [("Example 1", corpus.example_prompt)] + [(f"block {i}", corpus.train_blocks[i]) for i in picks]
        for name, prompt in prompts:
            start = time.perf_counter()
            out = model.continue_blocks(np.asarray(prompt)[None], seed=0)[0]
            print(f"--- generation {g}, {name} ({time.perf_counter() - start:.0f} s)\n"
                  f"prompt (end): ...{corpus.codec.decode(prompt)[-160:]}\ncontinuation: {corpus.codec.decode(out)}",
                  flush=True)


if __name__ == "__main__":
    main()
