"""Throughput of SmolLM2-135M-Instruct as the language model's pretrained base on this CPU (issue 14).

Measures, on the book's code path (``collapse_lib.models.smollm2.load_backbone`` -> ``LanguageModel``): tokens per
second of fine-tuning (forward + backward + AdamW, batch 8 blocks of 64 tokens) and of beam-5 decoding (64 new
tokens per prompt, batch 16, KV cache), with 2 torch threads. Absolute numbers of one machine, printed with its
load: they size the ``language_model_pretrained`` run, they are not a ratio and not a test.

    .venv/bin/python benchmarks/smollm2_throughput.py
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_lib.experiments.language_model import corpus_text  # noqa: E402
from collapse_lib.models import language_model as lm  # noqa: E402
from collapse_lib.models import smollm2  # noqa: E402
from collapse_lib.models.opt_path import hf_logits  # noqa: E402


def main(n_train: int = 32, n_prompts: int = 16, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    backbone, codec = smollm2.load_backbone("cpu")
    text = corpus_text()
    blocks = lm.to_blocks(codec.encode(text.valid), 64)
    train, prompts = blocks[:n_train], blocks[n_train:n_train + n_prompts]
    module = backbone.new_module()
    start = time.perf_counter()
    lm.train_epochs(module, train, blocks[-4:], epochs=1, lr=1e-4, batch_size=8, logits_fn=hf_logits,
                    eval_batch_size=8, keep="last")
    fit = time.perf_counter() - start
    decoder = backbone.decoder(module.eval(), 5, 64)
    start = time.perf_counter()
    with torch.no_grad():
        lm.beam_search(decoder, torch.as_tensor(prompts, dtype=torch.long), 64, 5, suppress=backbone.eos_id)
    decode = time.perf_counter() - start
    print(f"load average {os.getloadavg()[0]:.1f}, {threads} threads")
    print(f"fine-tuning: {n_train * 64 / fit:.0f} tokens/s ({n_train} blocks x 64 tokens, one epoch with the "
          f"validation pass, {fit:.1f} s)")
    print(f"beam-5 decoding: {n_prompts * 64 / decode:.1f} new tokens/s ({n_prompts} prompts x 64 new tokens, "
          f"{decode:.1f} s)")


if __name__ == "__main__":
    main()
