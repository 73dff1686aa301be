"""Hugging Face ``transformers``, imported for the OPT and SmolLM2 paths.

:func:`transformers_objects` imports it without tqdm's "IProgress not found" warning, which the import
raises in a Jupyter kernel without ipywidgets: a chapter page would print it (with a path on the build
machine), and the library shows no notebook progress bar.
"""

from __future__ import annotations

import warnings


def transformers_objects(*names: str) -> tuple:
    """The objects ``names`` of ``transformers`` (``"AutoTokenizer"``, ``"OPTForCausalLM"``, ...), in that order."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import transformers

        return tuple(getattr(transformers, name) for name in names)
