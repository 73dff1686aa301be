"""What every model of the library shares: scikit-learn's meaning of ``get_params`` / ``set_params``.

A model's *parameters* are its constructor's arguments (``GaussianModel(ddof=1).get_params() ==
{"ddof": 1, "method": "sufficient"}``), as in scikit-learn's ``BaseEstimator``; what ``fit`` learns is
its *fitted state*, held in attributes with a trailing underscore (``mu_``, ``sigma_``) and carried by
``get_state()`` / ``set_state(state)`` as a dict of NumPy arrays (the run store saves it to resume a run).
"""

from __future__ import annotations

import inspect
from typing import ClassVar

from ..validation import SettingError


class ModelParams:
    """Mixin: ``get_params()`` returns the constructor's arguments, ``set_params(**params)`` changes them.

    Every argument of ``__init__`` must be stored in an attribute of the same name (scikit-learn's rule), so
    that ``type(model)(**model.get_params())`` builds an unfitted copy.

    ``_parameter_constraints`` (as in scikit-learn) maps a parameter's name to its
    :class:`~collapse_lib.spec.Constraint`; :meth:`_validate_params` checks them (a model's ``__init__`` calls
    it). The experiments' specs use the same constraint objects for the settings that reach a model, so one
    allowed range is written once.
    """

    _parameter_constraints: ClassVar[dict] = {}

    def _validate_params(self) -> None:
        """Check (and canonicalise) every parameter that has a constraint; raise ``SettingError`` naming it."""
        for name, constraint in self._parameter_constraints.items():
            setattr(self, name, constraint.check(name, getattr(self, name)))

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(name for name, p in signature.parameters.items()
                      if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments of this model, ``{name: value}`` (``deep`` is accepted for scikit-learn's
        signature; these models hold no nested estimators)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "ModelParams":
        """Change constructor arguments (then ``fit`` again); an unknown name is refused, naming the known ones."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise SettingError(f"{type(self).__name__} has no parameter {name!r}; its parameters are "
                                   f"{', '.join(known) or 'none'}.")
        # validated as the constructor validates them
        checked = type(self)(**{**self.get_params(), **params}).get_params()
        for name in params:
            setattr(self, name, checked[name])
        return self
