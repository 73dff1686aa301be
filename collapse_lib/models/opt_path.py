"""The paper's own model: OPT (Hugging Face ``transformers``) in the same loop, with the same metrics.

For users with a GPU and network, the ``paper`` profile of the ``language_model`` experiment
fine-tunes ``facebook/opt-125m`` with the paper's hyperparameters (AdamW, lr 2e-5, cosine,
batch 128) through :class:`~collapse_lib.models.language_model.LanguageModel`: the training loop,
the beam search and the perplexities are the library's, only the network is Hugging Face's.
Here (no download) the same path runs on a small randomly initialised ``OPTConfig``.

* :class:`OPTBackbone` builds fresh copies of the base for the loop's model;
* :class:`HFDecoder` lets :func:`~collapse_lib.models.language_model.beam_search` drive any
  Hugging Face causal LM through its own key/value cache;
* :func:`hf_generate` is Hugging Face's ``generate`` with the paper's decoding settings (the
  baseline of the benchmarks and of the tests that check both searches give the same beams);
* :func:`tiny_to_hf` copies a :class:`~collapse_lib.models.language_model.TinyTransformer` into an
  ``OPTForCausalLM`` of the same shape, so that both searches can run on the same weights.

OPT's tokenizer prepends ``</s>`` to every line, so blocks hold ``</s>`` mid-stream, as in the paper's
code; the CPU path's BPE is used the same way
(:func:`~collapse_lib.models.language_model.encode_lines`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..validation import SettingError
from .hf import transformers_objects
from .language_model import TinyTransformer, TransformerConfig, encode_lines

#: What the ``opt_model`` setting accepts besides a Hugging Face model name.
RANDOM = "random"


def opt_config(config: TransformerConfig, eos_id: int | None, bos_id: int | None = None):
    """An ``OPTConfig`` with the shape of ``config`` (OPT-125m's layout: layer norm before each block)."""
    OPTConfig = transformers_objects("OPTConfig")[0]

    return OPTConfig(vocab_size=config.vocab_size, hidden_size=config.d_model, num_hidden_layers=config.n_layers,
                     ffn_dim=config.d_ff, num_attention_heads=config.n_heads,
                     max_position_embeddings=config.max_len, word_embed_proj_dim=config.d_model,
                     do_layer_norm_before=True, dropout=config.dropout, attention_dropout=0.0,
                     activation_dropout=0.0, activation_function="relu", enable_bias=True,
                     layer_norm_elementwise_affine=True, pad_token_id=None,
                     eos_token_id=eos_id, bos_token_id=eos_id if bos_id is None else bos_id,
                     tie_word_embeddings=True)


def random_opt(config: TransformerConfig, eos_id: int | None, seed: int = 0):
    """A randomly initialised ``OPTForCausalLM`` of that shape (no download), seeded."""
    OPTForCausalLM = transformers_objects("OPTForCausalLM")[0]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = OPTForCausalLM(opt_config(config, eos_id))
    return model.float().eval()


@torch.no_grad()
def tiny_to_hf(model: TinyTransformer, eos_id: int | None):
    """An ``OPTForCausalLM`` computing the same function as ``model`` (weights copied)."""
    c = model.config
    hf = random_opt(c, eos_id)
    decoder = hf.model.decoder
    decoder.embed_tokens.weight.copy_(model.embed.weight)
    decoder.embed_positions.weight[2:].copy_(model.pos)  # OPT offsets positions by 2
    decoder.final_layer_norm.load_state_dict(model.ln_f.state_dict())
    for ours, theirs in zip(model.layers, decoder.layers):
        attention = theirs.self_attn
        for part, proj in zip(range(3), (attention.q_proj, attention.k_proj, attention.v_proj)):
            rows = slice(part * c.d_model, (part + 1) * c.d_model)
            proj.weight.copy_(ours.qkv.weight[rows])
            proj.bias.copy_(ours.qkv.bias[rows])
        attention.out_proj.load_state_dict(ours.out.state_dict())
        theirs.self_attn_layer_norm.load_state_dict(ours.ln1.state_dict())
        theirs.final_layer_norm.load_state_dict(ours.ln2.state_dict())
        theirs.fc1.load_state_dict(ours.fc1.state_dict())
        theirs.fc2.load_state_dict(ours.fc2.state_dict())
    hf.lm_head.weight = decoder.embed_tokens.weight
    return hf.eval()


class HFDecoder:
    """Incremental decoding of a Hugging Face causal LM for :func:`beam_search`.

    Like ``generate``, the prompts are expanded to ``n_beams`` rows before the first forward
    pass, so the numbers are those of ``generate``; the cache is reordered with the model's own
    ``Cache.reorder_cache``.
    """

    def __init__(self, model, n_beams: int, n_new: int):
        self.model, self.n_beams, self.n_new = model, n_beams, n_new

    def start(self, prompts: torch.Tensor) -> torch.Tensor:
        B = prompts.shape[0]
        out = self.model(input_ids=prompts.repeat_interleave(self.n_beams, dim=0), use_cache=True)
        self.cache = _cache_of(out)
        return out.logits[:, -1].float().view(B, self.n_beams, -1)[:, 0]

    def advance(self, parent: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        self.cache.reorder_cache(parent)
        out = self.model(input_ids=tokens[:, None], cache=self.cache, use_cache=True)
        self.cache = _cache_of(out)
        return out.logits[:, -1].float()


def _cache_of(output):
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


@torch.no_grad()
def hf_generate(model, prompts: torch.Tensor, n_new: int = 64, n_beams: int = 5, repetition_penalty: float = 1.0):
    """Hugging Face's ``generate`` as the paper calls it; returns the new tokens ``(B, n_new)``."""
    out = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), num_beams=n_beams,
                         do_sample=False, min_new_tokens=n_new, max_new_tokens=n_new,
                         repetition_penalty=repetition_penalty, pad_token_id=model.config.eos_token_id,
                         early_stopping=False, length_penalty=1.0)
    return out[:, prompts.shape[1]:]


def hf_logits(module, ids):
    return module(input_ids=ids).logits


class OPTBackbone:
    """A base ``OPTForCausalLM`` (its weights) for :class:`~collapse_lib.models.language_model.LanguageModel`."""

    kind = "opt"

    def __init__(self, config, state: dict, codec, device="cpu"):
        self.config, self.state, self.codec, self.device = config, state, codec, device
        self.eos_id = config.eos_token_id

    def new_module(self, state: dict | None = None):
        OPTForCausalLM = transformers_objects("OPTForCausalLM")[0]

        module = OPTForCausalLM(self.config)
        module.load_state_dict(self.state if state is None else state, strict=False)
        module.tie_weights()
        return module.to(self.device).float().eval()

    logits = staticmethod(hf_logits)

    @staticmethod
    def decoder(module, n_beams: int, n_new: int):
        return HFDecoder(module, n_beams, n_new)


class HFCodec:
    """OPT's tokenizer with the interface of :class:`~collapse_lib.models.language_model.BPECodec`."""

    def __init__(self, tokenizer, separator_id: int | None = None):
        """``separator_id``: the token in front of every line (OPT's ``</s>``, its BOS and EOS; default the
        tokenizer's BOS), which generation never emits (it is :attr:`eos_id`)."""
        self.tokenizer = tokenizer
        self.separator_id = tokenizer.bos_token_id if separator_id is None else separator_id
        self.eos_id = tokenizer.eos_token_id if separator_id is None else separator_id
        self.vocab_size = len(tokenizer)

    def encode(self, text: str) -> np.ndarray:
        return encode_lines(text, lambda line: self.tokenizer(line, add_special_tokens=False)["input_ids"],
                            self.separator_id)

    def encode_span(self, text: str) -> np.ndarray:
        """A piece of a line, without the ``</s>`` that starts every line."""
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int32)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of token ids; ``skip_special_tokens`` drops the document separator ``</s>``."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)


def load_pretrained(name: str, device="cpu"):
    """``(OPTBackbone, HFCodec)`` for a Hugging Face model name such as ``facebook/opt-125m`` (a download)."""
    AutoTokenizer, OPTForCausalLM = transformers_objects("AutoTokenizer", "OPTForCausalLM")

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = OPTForCausalLM.from_pretrained(name, dtype=torch.float32)
    except OSError as error:
        raise SettingError(f"cannot load {name!r} from Hugging Face ({error}); the paper path needs network "
                           "access or a local copy. Use opt_model='random' or backend='tiny' offline.") from error
    codec = HFCodec(tokenizer)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return OPTBackbone(model.config, state, codec, device), codec
