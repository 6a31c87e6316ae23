"""`rnnlab gradcheck`: the NumPy BPTT reference against autograd and finite differences,
through `rnnlab.cli.main`. Its errors are small against the stated tolerances, its loss is
the reference's own on the same seeded problem, a gradient made wrong by 0.1% fails it
(exit 1), and a bad option value is one error line (exit 2)."""

from __future__ import annotations

import json

import pytest

from rnnlab.cli import main

PARAMS = ["U", "W", "b", "V", "c"]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["gradcheck", *argv])
    return code, capsys.readouterr().out


def test_the_reference_passes_with_room_to_spare(capsys):
    from rnnlab.reference import numpy_bptt as nb
    from rnnlab.reference.gradcheck import problem

    code, out = _run(["--hidden-size", "5", "--seq-len", "6", "--vocab", "4", "--seed", "3",
                      "--json"], capsys)
    assert code == 0
    r = json.loads(out)
    assert r["passed"] is True
    assert r["sizes"] == {"batch": 3, "seq_len": 6, "vocab": 4, "hidden_size": 5, "seed": 3}
    assert list(r["errors"]) == PARAMS
    for e in r["errors"].values():
        assert e["autograd"] <= 1e-12  # float64 autograd: rounding only
        assert e["finite_differences"] <= 1e-7
    assert r["tolerance"] == {"autograd": 1e-10, "finite_differences": 1e-6}
    params, x, y, h0 = problem(5, 6, 4, 3)
    assert r["loss"] == nb.nll(nb.forward(params, x, h0), y)
    assert r["autograd_loss"] == pytest.approx(r["loss"], rel=1e-12)


def test_text_output_has_a_row_per_parameter(capsys):
    code, out = _run([], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Elman RNN: batch 3, T 7, V 6, H 4, seed 0")
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[2:7]}
    assert list(rows) == PARAMS
    assert all(a <= 1e-10 and f <= 1e-6 for a, f in rows.values())
    assert lines[-1].endswith("passed")


def test_a_wrong_gradient_fails_with_exit_1(capsys, monkeypatch):
    """The check has teeth: W's gradient off by 0.1% exceeds both tolerances."""
    from rnnlab.reference import numpy_bptt as nb

    right = nb.backward

    def off(*args, **kwargs):
        g = right(*args, **kwargs)
        g.grads["W"] *= 1.001
        return g

    monkeypatch.setattr(nb, "backward", off)
    code, out = _run(["--json"], capsys)
    r = json.loads(out)
    assert code == 1 and r["passed"] is False
    assert r["errors"]["W"]["autograd"] > 1e-4 and r["errors"]["W"]["finite_differences"] > 1e-4
    assert r["errors"]["U"]["autograd"] <= 1e-10
    code, out = _run([], capsys)
    assert code == 1 and out.splitlines()[-1].endswith("FAILED")


@pytest.mark.parametrize("argv,needle", [
    (["--hidden-size", "0"], "--hidden-size must be >= 1"),
    (["--hidden-size", "100"], "--hidden-size must be <= 16"),
    (["--seq-len", "x"], "--seq-len must be a whole number, got 'x'"),
    (["--vocab", "1"], "--vocab must be >= 2"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--vocab", "2.5"], "--vocab must be a whole number"),
])
def test_bad_values_are_one_error_line(argv, needle, user_error):
    assert needle in user_error(["gradcheck", *argv])
