"""Every public name of `rnnlab` is importable and documented by a docstring of its own."""

from __future__ import annotations

import inspect

import rnnlab


def test_every_public_class_and_function_has_a_docstring() -> None:
    undocumented = []
    for name in rnnlab.__all__:
        obj = getattr(rnnlab, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = (obj.__doc__ or "").strip()
        if not doc or doc.startswith(obj.__name__ + "("):  # a dataclass's generated one
            undocumented.append(name)
    assert not undocumented, undocumented
