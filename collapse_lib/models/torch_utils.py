"""Small PyTorch helpers shared by the torch models: thread counts, determinism, devices, seeds, and
weights as NumPy arrays (the run store's format)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..validation import SettingError, check_choice


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)`` (None: leave it), then restore."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(device: str):
    """Deterministic algorithms on the CPU (CUDA would need CUBLAS_WORKSPACE_CONFIG; left alone)."""
    if device != "cpu":
        yield
        return
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; an unavailable ``"cuda"`` is an error."""
    check_choice("device", device, ("auto", "cpu", "cuda"))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingError("device='cuda' but torch.cuda.is_available() is False; use device='cpu' or 'auto'.")
    return device


def torch_seed(rng) -> int:
    """A 63-bit torch seed drawn from a NumPy generator (0 when ``rng`` is None)."""
    return 0 if rng is None else int(rng.integers(2**63 - 1))


def state_to_arrays(module, prefix: str = "") -> dict:
    """``module.state_dict()`` as NumPy arrays (copies, on the CPU), each key prefixed with ``prefix``."""
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def arrays_to_state(arrays: dict, prefix: str = "") -> dict:
    """The entries of ``arrays`` whose keys start with ``prefix``, without it, as tensors for ``load_state_dict``."""
    return {k[len(prefix):]: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()
            if k.startswith(prefix)}
