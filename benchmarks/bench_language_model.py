"""Benchmarks of the language-model chapter: beam search, training throughput, the book profile.

* ``language_model/beam-search-vs-hf-generate``: the library's batched five-way beam search with its
  key/value cache (:func:`collapse_lib.models.language_model.beam_search` on a
  :class:`~collapse_lib.models.language_model.TinyTransformer`) against Hugging Face's
  ``generate(num_beams=5, do_sample=False, min_new_tokens=64, max_new_tokens=64)`` on an
  ``OPTForCausalLM`` of the same size and shape holding the same weights
  (:func:`collapse_lib.models.opt_path.tiny_to_hf`), on the same 128 prompts of 64 tokens (the
  paper's generation batch). Both must give the same beams; the library must give >= 3x the tokens
  per second. The library's search is also run through Hugging Face's own model code
  (:class:`~collapse_lib.models.opt_path.HFDecoder`) and must give ``generate``'s beams exactly.
* ``language_model/training-throughput``: fine-tuning steps of the book's model (batch 32 x 64
  tokens, AdamW), in tokens per second and as a fraction of the fp32 matrix-multiply peak measured in
  the same command (``torch.matmul`` of two 2048 x 2048 matrices), both on one thread, as the book's
  runs use one thread per process. Target >= 40% of the peak.
* ``language_model/book-chapter-runs``: everything the chapter computes at the ``book`` profile
  (:func:`collapse_lib.language_model_chapter_runs`: a base model per seed, 2 settings x seeds x
  10 generations, the repetition ablation at penalty 2, pure sampling) from an empty run store, two processes; the
  SmolLM2 judge is not included. Target < 480 s on 2 cores.

The model is the book profile's shape (vocabulary 1024, 2 layers, width 128, 4 heads, feed-forward
512, 128 positions). For the beam-search comparison its weights are random with a large scale
(N(0, 0.2)), so that next-token distributions are peaked like a trained model's and the beams are
decided by margins far above float rounding; the prompts are random token ids. Speed does not
depend on either.
"""

from __future__ import annotations

import tempfile
import time

import torch
import torch.nn.functional as F

import collapse_lib as cl
from collapse_lib.models import language_model as lm
from collapse_lib.models import opt_path
from collapse_lib.models.torch_utils import torch_threads
from harness import Result, Timing, benchmark, best_time

BOOK_SHAPE = dict(vocab_size=1024, d_model=128, n_layers=2, n_heads=4, d_ff=512, max_len=128)
N_BEAMS, N_NEW, PROMPT = 5, 64, 64


def book_model(scale: float = 0.2) -> lm.TinyTransformer:
    model = lm.TinyTransformer(lm.TransformerConfig(**BOOK_SHAPE), seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" not in name:
                p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return model.eval()


def _beam_lines(n_prompts: int, target: float | None, repeats_ours: int, repeats_hf: int) -> Result:
    model = book_model()
    hf = opt_path.tiny_to_hf(model, eos_id=0)
    prompts = torch.randint(1, BOOK_SHAPE["vocab_size"], (n_prompts, PROMPT), generator=torch.Generator().manual_seed(2))
    results = {}

    def ours():
        results["ours"] = lm.beam_search(model.decoder(N_BEAMS, N_NEW), prompts, N_NEW, N_BEAMS, suppress=0)[0]

    def theirs():
        results["hf"] = opt_path.hf_generate(hf, prompts, N_NEW, N_BEAMS)

    def ours_on_hf():
        results["ours_on_hf"] = lm.beam_search(opt_path.HFDecoder(hf, N_BEAMS, N_NEW), prompts, N_NEW, N_BEAMS,
                                               suppress=0)[0]

    with torch_threads(1):
        # alternate the two sides, so that both see the same bursts of load from other jobs
        ours(), theirs()
        times = {"ours": [], "hf": []}
        for round_ in range(max(repeats_ours, repeats_hf)):
            if round_ < repeats_ours:
                times["ours"].append(best_time(ours, repeats=1, warmup=0).best)
            if round_ < repeats_hf:
                times["hf"].append(best_time(theirs, repeats=1, warmup=0).best)
        t_ours, t_hf = Timing(tuple(times["ours"])), Timing(tuple(times["hf"]))
        ours_on_hf()
    same = torch.equal(results["ours"], results["hf"])
    same_code = torch.equal(results["ours_on_hf"], results["hf"])
    tokens = n_prompts * N_NEW
    name = f"language_model/beam-search-vs-hf-generate-{n_prompts}-prompts"
    detail = (f"library {tokens / t_ours.best:.0f} tokens/s ({t_ours.best:.2f} s), HF generate "
              f"{tokens / t_hf.best:.0f} tokens/s ({t_hf.best:.2f} s); best of {repeats_ours} and {repeats_hf}, "
              f"alternated; "
              f"same beams as generate: tiny model {same}, library search on HF's model code {same_code}; 1 thread")
    if not (same and same_code):
        return Result.failed(name, "beams differ from generate's: " + detail)
    return Result.ratio(name, t_hf.best / t_ours.best, at_least=target, detail=detail)


@benchmark("language_model/beam-search-vs-hf-generate")
def beam_vs_generate(ctx):
    """Tokens per second of the batched beam search vs Hugging Face generate (same model, prompts, beams)."""
    return [_beam_lines(128, 3.0, 2 if ctx.quick else 4, 1 if ctx.quick else 3),
            _beam_lines(64, None, 4, 3),  # the book profile's generation batch
            _beam_lines(32, None, 4, 3)]


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of ``torch.matmul`` on two ``n x n`` matrices."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    timing = best_time(lambda: torch.matmul(a, b), repeats=repeats)
    return 2 * n**3 / timing.best / 1e9


def training_flops_per_token(config: lm.TransformerConfig, length: int) -> float:
    """Matrix-multiply FLOPs of one training token (forward x 3): the linear layers and the output
    layer, plus causal attention (on average length/2 keys per query, scores and values)."""
    d, f, V = config.d_model, config.d_ff, config.vocab_size
    forward = 2 * (config.n_layers * (4 * d * d + 2 * d * f) + d * V) + config.n_layers * 2 * 2 * (length / 2) * d
    return 3 * forward


@benchmark("language_model/training-throughput")
def training_throughput(ctx):
    """Fine-tuning tokens/s of the book's model and its fraction of the measured matmul peak (1 thread)."""
    model = book_model(0.02)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    batch, length = 32, PROMPT
    ids = torch.randint(0, BOOK_SHAPE["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(3))

    def step():
        logits = model(ids)[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    steps = 5 if ctx.quick else 20
    with torch_threads(1):
        peak_before = matmul_peak()
        timing = best_time(lambda: [step() for _ in range(steps)], repeats=3)
        peak = max(peak_before, matmul_peak())
    tokens_per_s = steps * batch * length / timing.best
    achieved = tokens_per_s * training_flops_per_token(model.config, length) / 1e9
    return Result.ratio("language_model/training-throughput", achieved / peak, at_least=0.40,
                        detail=f"{tokens_per_s:.0f} tokens/s = {achieved:.1f} GFLOP/s of matmul work; fp32 matmul "
                               f"peak {peak:.1f} GFLOP/s (2048x2048, best of before/after); batch {batch}x{length}, "
                               f"AdamW, 1 thread; best of 3 x {steps} steps")


@benchmark("language_model/book-chapter-runs")
def book_chapter(ctx):
    """The chapter's whole computation at the book profile (smoke in quick mode), empty run store, 2 processes."""
    profile = "smoke" if ctx.quick else "book"
    with tempfile.TemporaryDirectory(prefix="bench-lm-") as root:
        start = time.perf_counter()
        runs = cl.language_model_chapter_runs(profile, 0, jobs=2, store=cl.RunStore(root))
        seconds = time.perf_counter() - start
    n_runs = len(runs["main"]) + len(runs["ablation"]) - 1 + 1  # the ablation's penalty 1 is a main run; + sampling
    n_bases = len({seed for _, seed in runs["main"]})  # one base model per seed
    return Result.time("language_model/book-chapter-runs", seconds, below=480.0,
                       detail=f"profile {profile}: {n_bases} base models + {n_runs} runs, 2 processes, empty run store"
                              + (" (QUICK: smoke profile)" if ctx.quick else ""))
