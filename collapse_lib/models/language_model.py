r"""A small decoder-only transformer language model for the paper's WikiText-2 experiment, on a CPU.

The paper fine-tunes OPT-125m; this module gives the same recursion at a size a laptop runs in
minutes, with the same protocol (paper-setup §3.4):

* text is tokenised with a byte-level BPE trained on the training text (:func:`train_tokenizer`),
  line by line with ``</s>`` before each line as OPT's tokenizer does in the paper's code
  (:func:`encode_lines`), and cut into 64-token blocks, the remainder dropped (:func:`to_blocks`);
* :class:`TinyTransformer` has OPT's architecture (pre-layer-norm blocks, learned positions, ReLU
  feed-forward, biases, output tied to the token embedding), at any size; its weights load into a
  Hugging Face ``OPTForCausalLM`` of the same shape (:func:`collapse_lib.models.opt_path.tiny_to_hf`);
* :func:`beam_search` is batched five-way beam search with a key/value cache, exactly ``n_new`` new
  tokens (the end-of-sequence token is suppressed, as ``min_new_tokens = max_new_tokens`` does) and
  Hugging Face's repetition penalty on the log-probabilities, prompt tokens included;
* :func:`train_epochs` is the paper's fine-tuning loop: AdamW, cosine learning rate stepped per
  epoch, and the checkpoint that is best on the real validation blocks kept;
* :func:`block_losses` gives the mean token cross-entropy of each 64-token block; the paper's
  perplexity is :func:`collapse_lib.metrics.perplexity`, the exponential of their mean;
* :class:`LanguageModel` is the model the generational loop (:func:`collapse_lib.run_generations`)
  fits and samples: ``fit`` fine-tunes a fresh copy of the base, ``sample(n, rng)`` continues ``n``
  real training blocks by ``n_new`` tokens each, and only the new tokens are returned.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelParams
from ..validation import (InputArrayError, SettingError, check_fitted, check_positive_int)
from .torch_utils import arrays_to_state, state_to_arrays

EOS = "</s>"  # the one special token: OPT's end of sequence, suppressed while generating


# --- tokenizer and blocks ---------------------------------------------------------------------

class BPECodec:
    """A byte-level BPE tokenizer (Hugging Face ``tokenizers``) with the two methods the library uses."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.token_to_id(EOS)
        self.vocab_size = tokenizer.get_vocab_size()

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, line by line with ``</s>`` in front of every line, as the paper's
        code tokenises WikiText-2 with OPT's tokenizer (see :func:`encode_lines`)."""
        lines = text.splitlines(keepends=True)
        encoded = iter(self.tokenizer.encode_batch(lines, add_special_tokens=False))
        return encode_lines(text, lambda line: next(encoded).ids, self.eos_id)

    def encode_span(self, text: str) -> np.ndarray:
        """Token ids of a piece of a line (nothing added)."""
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of token ids; ``skip_special_tokens`` drops the document separator ``</s>``."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def to_array(self) -> np.ndarray:
        """The tokenizer as bytes (uint8), to store next to the weights."""
        return np.frombuffer(self.tokenizer.to_str().encode("utf-8"), dtype=np.uint8).copy()

    @classmethod
    def from_array(cls, array: np.ndarray) -> "BPECodec":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(bytes(np.asarray(array, dtype=np.uint8)).decode("utf-8")))


def encode_lines(text: str, encode, bos_id: int | None) -> np.ndarray:
    """Token ids of ``text`` tokenised line by line, as the paper's ``dataset.py`` does with OPT's
    tokenizer: each line (a row of the Hugging Face dataset; an empty one is ``" \\n"``) is
    encoded on its own with ``bos_id`` in front, and the lines are concatenated. Blocks therefore
    hold ``</s>`` mid-stream, and beam search, which never emits ``</s>``, writes no new lines."""
    ids: list[int] = []
    for line in text.splitlines(keepends=True):
        if bos_id is not None:
            ids.append(bos_id)
        ids.extend(encode(line))
    return np.asarray(ids, dtype=np.int32)


def train_tokenizer(text: str, vocab_size: int) -> BPECodec:
    """A byte-level BPE with ``vocab_size`` tokens (256 bytes, ``</s>`` and merges) trained on ``text``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 258:
        raise SettingError(f"vocab_size must be >= 258 (256 bytes, </s> and one merge), got {vocab_size}.")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the runs fork worker processes later
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(text.splitlines(keepends=True), trainer=trainer)
    return BPECodec(tokenizer)


def to_blocks(ids, block_size: int = 64) -> np.ndarray:
    """Cut a token stream into consecutive ``block_size``-token blocks; the remainder is dropped."""
    ids = np.asarray(ids, dtype=np.int32)
    n = len(ids) // block_size
    return ids[: n * block_size].reshape(n, block_size)


def spaced_indices(total: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n`` is 0 or >= ``total``)."""
    if n <= 0 or n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a :class:`TinyTransformer` (OPT-125m: 50272, 768, 12, 12, 3072, 2048)."""

    vocab_size: int
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    max_len: int = 128
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise SettingError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads}).")

    def to_dict(self) -> dict:
        return asdict(self)


class _Layer(nn.Module):
    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.out = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.fc1 = nn.Linear(c.d_model, c.d_ff)
        self.fc2 = nn.Linear(c.d_ff, c.d_model)


class TinyTransformer(nn.Module):
    """OPT's decoder at a small size; ``forward(ids)`` gives next-token logits ``(B, T, V)``."""

    def __init__(self, config: TransformerConfig, seed: int = 0):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.pos = nn.Parameter(torch.empty(c.max_len, c.d_model))
        self.layers = nn.ModuleList([_Layer(c) for _ in range(c.n_layers)])
        self.ln_f = nn.LayerNorm(c.d_model)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # OPT's initialisation: N(0, 0.02) weights, zero biases
            for name, p in self.named_parameters():
                if "ln" in name:
                    continue
                if name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02, generator=generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        c = self.config
        B, T = ids.shape
        drop = c.dropout if self.training else 0.0
        x = self.embed(ids) + self.pos[:T]
        heads, head_dim = c.n_heads, c.d_model // c.n_heads
        for layer in self.layers:
            q, k, v = layer.qkv(layer.ln1(x)).view(B, T, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
            x = x + F.dropout(layer.out(a.transpose(1, 2).reshape(B, T, c.d_model)), drop, self.training)
            x = x + F.dropout(layer.fc2(F.relu(layer.fc1(layer.ln2(x)))), drop, self.training)
        return self.ln_f(x) @ self.embed.weight.T

    def decoder(self, n_beams: int, n_new: int) -> "CachedDecoder":
        return CachedDecoder(self, n_beams, n_new)


class CachedDecoder:
    """Incremental decoding of a :class:`TinyTransformer` for ``n_beams`` beams per prompt.

    Nothing is copied when beams are reselected. Per layer, one preallocated key (and value)
    tensor per *prompt*, ``(B, heads, P + n_beams * n_new, head_dim)``, holds the prompt's keys
    once (shared by its beams) and then, at column ``P + t * n_beams + k``, the key that beam
    ``k`` wrote at step ``t``. The K beams of a prompt are K queries against that tensor; a
    mask ``(B, K, columns)`` (0 or -inf) says which columns lie on each beam's own history, and
    reselecting beams only reorders the rows of that small mask.
    """

    def __init__(self, model: TinyTransformer, n_beams: int, n_new: int):
        self.model, self.n_beams, self.n_new = model, n_beams, n_new

    def start(self, prompts: torch.Tensor) -> torch.Tensor:
        """Run the prompts ``(B, P)``; return the logits of the token after each ``(B, V)``."""
        m, c = self.model, self.model.config
        B, P = prompts.shape
        K = self.n_beams
        if P + self.n_new > c.max_len:
            raise SettingError(f"prompt ({P}) + new tokens ({self.n_new}) exceed the model's max_len {c.max_len}.")
        heads, head_dim = c.n_heads, c.d_model // c.n_heads
        columns = P + K * self.n_new
        x = m.embed(prompts) + m.pos[:P]
        self.keys, self.values = [], []
        for layer in m.layers:
            q, k, v = layer.qkv(layer.ln1(x)).view(B, P, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            keys = torch.empty(B, heads, columns, head_dim, dtype=x.dtype, device=x.device)
            values = torch.empty_like(keys)
            keys[:, :, :P], values[:, :, :P] = k, v
            self.keys.append(keys)
            self.values.append(values)
            x = x + layer.out(a.transpose(1, 2).reshape(B, P, c.d_model))
            x = x + layer.fc2(F.relu(layer.fc1(layer.ln2(x))))
        # additive attention mask: 0 on the columns of a beam's history, -inf elsewhere
        self.mask = torch.full((B, K, columns), -math.inf, dtype=x.dtype, device=x.device)
        self.mask[:, :, :P] = 0.0
        own = torch.eye(K, dtype=torch.bool, device=x.device)  # beam k's own column at a step
        self.own = torch.zeros(K, K, dtype=x.dtype, device=x.device).masked_fill_(~own, -math.inf)
        self.B, self.P, self.t = B, P, 0
        return m.ln_f(x[:, -1]) @ m.embed.weight.T

    def advance(self, parent: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Reorder the beams (row ``r`` continues row ``parent[r]``, rows numbered ``b * K + k``),
        append ``tokens`` ``(B*K,)`` and return the logits of the next token ``(B*K, V)``."""
        m, c = self.model, self.model.config
        B, K, P, t = self.B, self.n_beams, self.P, self.t
        heads, head_dim = c.n_heads, c.d_model // c.n_heads
        if t >= self.n_new:
            raise RuntimeError(f"the decoder was sized for {self.n_new} new tokens.")
        if t > 0:
            self.mask = self.mask.view(B * K, -1)[parent].view(B, K, -1)
        stop = P + (t + 1) * K
        self.mask[:, :, P + t * K: stop] = self.own
        mask = self.mask[:, None, :, :stop]
        x = m.embed(tokens) + m.pos[P + t]
        for layer, keys, values in zip(m.layers, self.keys, self.values):
            q, k, v = layer.qkv(layer.ln1(x)).view(B, K, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            keys[:, :, P + t * K: stop] = k
            values[:, :, P + t * K: stop] = v
            a = F.scaled_dot_product_attention(q, keys[:, :, :stop], values[:, :, :stop], attn_mask=mask)
            x = x + layer.out(a.transpose(1, 2).reshape(B * K, c.d_model))
            x = x + layer.fc2(F.relu(layer.fc1(layer.ln2(x))))
        self.t = t + 1
        return m.ln_f(x) @ m.embed.weight.T


# --- beam search --------------------------------------------------------------------------------

def apply_repetition_penalty(log_probs: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Hugging Face's repetition penalty, applied (as its beam search does) to log-probabilities:
    a token already in the sequence (prompt included) has its score multiplied by ``penalty`` if
    negative, divided by it otherwise."""
    if penalty == 1.0:
        return log_probs
    penalised = torch.where(log_probs < 0, log_probs * penalty, log_probs / penalty)
    return torch.where(seen, penalised, log_probs)


@torch.inference_mode()
def beam_search(decoder, prompts: torch.Tensor, n_new: int = 64, n_beams: int = 5,
                repetition_penalty: float = 1.0, suppress: int | None = None):
    """Batched beam search: exactly ``n_new`` new tokens for each prompt ``(B, P)``.

    ``decoder`` has ``start(prompts) -> logits (B, V)`` and ``advance(parent, tokens) -> logits
    (B*K, V)`` (:class:`CachedDecoder`, or :class:`collapse_lib.models.opt_path.HFDecoder` for any
    Hugging Face causal LM). It follows Hugging Face's ``generate(num_beams=K, do_sample=False,
    min_new_tokens=n_new, max_new_tokens=n_new)``: scores are summed float32 log-probabilities,
    the first step expands the top ``K`` tokens of the prompt, ``suppress`` (the end-of-sequence
    token) is never chosen, and the best beam is returned. Returns ``(tokens (B, n_new), score (B,))``.
    """
    B, K = prompts.shape[0], n_beams
    logits = decoder.start(prompts).float()
    V = logits.shape[-1]
    penalise = repetition_penalty != 1.0
    if penalise:
        seen = torch.zeros(B, V, dtype=torch.bool, device=logits.device)
        seen.scatter_(1, prompts, True)
    log_probs = torch.log_softmax(logits, dim=-1)
    if penalise:
        log_probs = apply_repetition_penalty(log_probs, seen, repetition_penalty)
    if suppress is not None:
        log_probs[:, suppress] = -math.inf
    scores, token = log_probs.topk(min(K, V), dim=-1)              # (B, K)
    if K > V:  # more beams than first tokens: the extra beams start at -inf and are never chosen
        scores = torch.cat([scores, scores.new_full((B, K - V), -math.inf)], dim=1)
        token = torch.cat([token, token.new_zeros(B, K - V)], dim=1)
    tokens = torch.empty(B, K, n_new, dtype=torch.long, device=logits.device)
    tokens[:, :, 0] = token
    offsets = torch.arange(B, device=logits.device)[:, None] * K
    parent = offsets.expand(B, K).reshape(-1)   # every beam of prompt b starts from its row b*K
    rows = torch.arange(B * K, device=logits.device)
    if penalise:
        seen = seen.repeat_interleave(K, dim=0)
        seen[rows, token.reshape(-1)] = True
    for step in range(1, n_new):
        logits = decoder.advance(parent, token.reshape(-1)).float()
        log_probs = torch.log_softmax(logits, dim=-1)
        if penalise:
            log_probs = apply_repetition_penalty(log_probs, seen, repetition_penalty)
        if suppress is not None:
            log_probs[:, suppress] = -math.inf
        candidates = (log_probs.view(B, K, V) + scores[:, :, None]).view(B, K * V)
        scores, index = candidates.topk(K, dim=-1)
        beam, token = index // V, index % V
        parent = (offsets + beam).reshape(-1)
        tokens = tokens.gather(1, beam[:, :, None].expand(B, K, n_new)).clone()
        tokens[:, :, step] = token
        if penalise:
            seen = seen[parent]
            seen[rows, token.reshape(-1)] = True
    return tokens[:, 0], scores[:, 0]


@torch.inference_mode()
def sample_search(decoder, prompts: torch.Tensor, n_new: int = 64, temperature: float = 1.0, top_p: float = 1.0,
                  generator: torch.Generator | None = None, suppress: int | None = None) -> torch.Tensor:
    """Ancestral sampling of exactly ``n_new`` new tokens per prompt ``(B, P)``, ``(B, n_new)``.

    ``decoder`` is built for one beam (``backbone.decoder(module, 1, n_new)``). At each step the logits
    are divided by ``temperature``; with ``top_p < 1`` only the smallest set of most probable tokens whose
    probabilities sum to at least ``top_p`` is kept (nucleus sampling, Holtzman et al. 2020);
    ``suppress`` (the end-of-sequence token) is never drawn. ``temperature=1, top_p=1`` is pure sampling.
    """
    B = prompts.shape[0]
    logits = decoder.start(prompts).float()
    rows = torch.arange(B, device=logits.device)
    tokens = torch.empty(B, n_new, dtype=torch.long, device=logits.device)
    for step in range(n_new):
        if step:
            logits = decoder.advance(rows, tokens[:, step - 1]).float()
        if suppress is not None:
            logits[:, suppress] = -math.inf
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p  # mass before the token already enough
            sorted_probs = sorted_probs.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter_(1, order, sorted_probs)
        tokens[:, step] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(tokens.device)
    return tokens


# --- losses and training ------------------------------------------------------------------------

def tiny_logits(module, ids):
    return module(ids)


@torch.no_grad()
def block_losses(module, blocks, logits_fn=tiny_logits, batch_size: int = 64, device="cpu") -> np.ndarray:
    """Mean next-token cross-entropy of each block (nats per predicted token), shape ``(n_blocks,)``.

    A block of ``T`` tokens has ``T - 1`` predictions (labels are the inputs shifted by one, as
    Hugging Face computes the loss when ``labels = input_ids``).
    """
    was_training = module.training
    module.eval()
    out = []
    blocks = np.asarray(blocks)
    for start in range(0, len(blocks), batch_size):
        ids = torch.as_tensor(blocks[start:start + batch_size], dtype=torch.long, device=device)
        logits = logits_fn(module, ids)[:, :-1].float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
        out.append(loss.view(ids.shape[0], -1).mean(dim=1).cpu().numpy())
    module.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


@dataclass
class TrainLog:
    """What a fine-tuning run did: the real validation loss after each epoch and the epoch kept."""

    valid_losses: list
    train_losses: list
    best_epoch: int

    @property
    def best_valid_loss(self) -> float:
        return float(self.valid_losses[self.best_epoch])


def train_epochs(module, train_blocks, valid_blocks, *, epochs: int, lr: float, batch_size: int,
                 weight_decay: float = 0.01, eta_min: float = 0.0, seed: int = 0, logits_fn=tiny_logits,
                 device="cpu", eval_batch_size: int = 64, keep: str = "best") -> TrainLog:
    """Fine-tune ``module`` in place as the paper's code does, and keep the best epoch (``keep="best"``)
    or the last one (``keep="last"``).

    AdamW (``lr``, ``weight_decay``), ``CosineAnnealingLR(T_max=epochs, eta_min)`` stepped once per
    epoch, the blocks shuffled every epoch, the mean token cross-entropy as the loss. After each
    epoch the mean block loss on ``valid_blocks`` (real text) is measured, and at the end the
    weights of the epoch with the lowest one are loaded back (the paper's best checkpoint). With
    ``keep="last"`` the validation loss is still measured but the last epoch's weights are kept: the
    model has then learnt its dataset for every epoch, whatever that does to the real text.
    """
    if keep not in ("best", "last"):
        raise SettingError(f"keep must be 'best' or 'last', got {keep!r}.")
    data = torch.as_tensor(np.asarray(train_blocks), dtype=torch.long)
    n = len(data)
    if n == 0:
        raise SettingError("there are no training blocks to fine-tune on.")
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=eta_min)
    generator = torch.Generator().manual_seed(seed)
    best, best_state, valid_losses, train_losses = math.inf, None, [], []
    with torch.random.fork_rng(devices=[]):  # dropout draws from torch's global generator
        torch.manual_seed(seed)
        for _ in range(epochs):
            module.train()
            order, total = torch.randperm(n, generator=generator), 0.0
            for start in range(0, n, batch_size):
                ids = data[order[start:start + batch_size]].to(device)
                logits = logits_fn(module, ids)[:, :-1]
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(ids)
            schedule.step()
            train_losses.append(total / n)
            valid = float(np.mean(block_losses(module, valid_blocks, logits_fn, eval_batch_size, device)))
            valid_losses.append(valid)
            if valid < best:
                best, best_state = valid, copy.deepcopy(module.state_dict())
    if keep == "best":
        module.load_state_dict(best_state)
    module.eval()
    return TrainLog(valid_losses, train_losses, int(np.argmin(valid_losses)) if keep == "best" else epochs - 1)


# --- backbones: what the loop's model is made of -----------------------------------------------

class TinyBackbone:
    """A :class:`TinyTransformer` base (its config and weights) and the tokenizer it was trained with."""

    kind = "tiny"

    def __init__(self, config: TransformerConfig, state: dict, codec: BPECodec, device="cpu"):
        self.config, self.state, self.codec, self.device = config, state, codec, device
        self.eos_id = codec.eos_id

    def new_module(self, state: dict | None = None) -> TinyTransformer:
        module = TinyTransformer(self.config)
        module.load_state_dict(self.state if state is None else state)
        return module.to(self.device).eval()

    logits = staticmethod(tiny_logits)

    @staticmethod
    def decoder(module, n_beams: int, n_new: int):
        return module.decoder(n_beams, n_new)


# --- the loop's model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FineTuning:
    """How every generation is fine-tuned and how it generates (the paper's values in brackets)."""

    epochs: int = 5                  # [5 in setting 1, 10 in setting 2]
    lr: float = 2e-5                 # [2e-5, AdamW]
    batch_size: int = 128            # [128]
    weight_decay: float = 0.01       # [torch's AdamW default]
    eta_min: float = 1e-6            # [CosineAnnealingLR eta_min]
    n_new_tokens: int = 64           # [64: min_new_tokens = max_new_tokens]
    n_beams: int = 5                 # [5]
    repetition_penalty: float = 1.0  # [1.0; ablation 2.0; the official code hard-codes 3.0]
    generate_batch_size: int = 64    # prompts per beam-search batch [128]
    eval_batch_size: int = 64
    checkpoint: str = "valid"        # ["valid": best on the real validation blocks]; "last": the last epoch
    decoding: str = "beam"           # ["beam": n_beams-way beam search; 1 beam = greedy]; "sample"
    temperature: float = 1.0         # decoding "sample": logits / temperature
    top_p: float = 1.0               # decoding "sample": nucleus mass (1 = pure sampling)


class LanguageModel(ModelParams):
    """One generation's language model, as the loop of :func:`collapse_lib.run_generations` needs it.

    ``fit(blocks)`` fine-tunes a FRESH copy of the base on ``blocks`` (an int array ``(n, T)``),
    keeping the epoch best on the real ``valid_blocks``. ``sample(n, rng)`` picks ``n`` of the
    real ``prompts`` (all of them, in order, when ``n`` equals their number; else ``n`` drawn
    without replacement) and returns their beam-search continuations, ``(n, n_new_tokens)``: only
    the new tokens, never the prompt. ``get_state``/``set_state`` carry the fine-tuned weights as NumPy
    arrays, for resuming (the run's generation-0 model is the loop's reference,
    :class:`collapse_lib.loop.Generation`).
    """

    sample_axis = 0

    def __init__(self, backbone, prompts, valid_blocks, tuning: FineTuning):
        self.backbone, self.tuning = backbone, tuning
        self.prompts = np.asarray(prompts, dtype=np.int32)
        self.valid_blocks = np.asarray(valid_blocks, dtype=np.int32)
        self.module = None

    def _check_blocks(self, name: str, blocks) -> np.ndarray:
        """Token blocks ``(n, T)``: whole numbers in ``0..vocab_size-1``, ``n >= 1``, ``T >= 2``."""
        array = np.asarray(blocks)
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 2:
            raise InputArrayError(f"{name} must be token blocks of shape (n_blocks, block_length) with at least one "
                                  f"block of >= 2 tokens, got shape {array.shape}; cut the token ids with to_blocks().")
        if not np.issubdtype(array.dtype, np.integer):
            raise InputArrayError(f"{name} must hold integer token ids, got dtype {array.dtype}; encode the text "
                                  f"with the backbone's tokenizer.")
        vocab = getattr(getattr(self.backbone, "config", None), "vocab_size", None)
        low, high = int(array.min()), int(array.max())
        if low < 0 or (vocab is not None and high >= vocab):
            raise InputArrayError(f"{name} must hold token ids in 0..{'vocab_size - 1' if vocab is None else vocab - 1}, "
                                  f"got ids in {low}..{high}; encode the text with the backbone's own tokenizer.")
        return array

    def fit(self, data, rng=None) -> "LanguageModel":
        """Fine-tune a fresh copy of the base on ``data``, token blocks ``(n, T)`` (ids of the backbone's vocabulary)."""
        data = self._check_blocks("data", data)
        t = self.tuning
        seed = int(rng.integers(2**62)) if rng is not None else 0
        self.module = self.backbone.new_module()
        self.log_ = train_epochs(self.module, data, self.valid_blocks, epochs=t.epochs, lr=t.lr,
                                 batch_size=t.batch_size, weight_decay=t.weight_decay, eta_min=t.eta_min,
                                 seed=seed, logits_fn=self.backbone.logits, device=self.backbone.device,
                                 eval_batch_size=t.eval_batch_size,
                                 keep="best" if t.checkpoint == "valid" else "last")
        return self

    def continue_blocks(self, prompts, seed: int = 0) -> np.ndarray:
        """Continuations (new tokens only) of ``prompts`` ``(n, P)``, ``(n, n_new)`` int32: beam search, or
        sampling seeded by ``seed`` (``decoding="sample"``)."""
        t, out = self.tuning, []
        prompts = np.asarray(prompts)
        generator = torch.Generator().manual_seed(int(seed))
        for start in range(0, len(prompts), t.generate_batch_size):
            batch = torch.as_tensor(prompts[start:start + t.generate_batch_size], dtype=torch.long,
                                    device=self.backbone.device)
            if t.decoding == "sample":
                decoder = self.backbone.decoder(self.module, 1, t.n_new_tokens)
                tokens = sample_search(decoder, batch, t.n_new_tokens, t.temperature, t.top_p, generator,
                                       suppress=self.backbone.eos_id)
            else:
                decoder = self.backbone.decoder(self.module, t.n_beams, t.n_new_tokens)
                tokens, _ = beam_search(decoder, batch, t.n_new_tokens, t.n_beams, t.repetition_penalty,
                                        suppress=self.backbone.eos_id)
            out.append(tokens.cpu().numpy().astype(np.int32))
        return np.concatenate(out) if out else np.zeros((0, t.n_new_tokens), np.int32)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        check_fitted(self, "module")
        n = check_positive_int("sample size", n)
        total = len(self.prompts)
        if n > total:
            raise SettingError(f"cannot continue {n} prompts: only {total} real training blocks are held.")
        index = np.arange(total) if n == total else np.sort(rng.choice(total, size=n, replace=False))
        self.last_prompt_index_ = index
        return self.continue_blocks(self.prompts[index], seed=int(rng.integers(2**62)))

    def block_losses(self, blocks, module=None) -> np.ndarray:
        return block_losses(module if module is not None else self.module, blocks, self.backbone.logits,
                            self.tuning.eval_batch_size, self.backbone.device)

    def get_state(self) -> dict:
        check_fitted(self, "module", "get_state")
        return state_to_arrays(self.module, "model.")

    def set_state(self, params: dict) -> "LanguageModel":
        self.module = self.backbone.new_module(arrays_to_state(params, "model."))
        return self

