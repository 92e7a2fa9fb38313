"""Long choice values on the parallel-coordinates axes stay readable in headless
Chromium: each tick label is cut in its middle by an ellipsis to the room between
two axes, so no two labels overlap, and the first axis's labels are not cut off at
the figure's left edge. Labels of 30-50 characters were drawn over the previous
axis's labels."""

from __future__ import annotations

import itertools
import math

from hpo_service import hp
from hpo_service.insight import write_report

from ._support import random_study, wait_drawn

OPTIMIZERS = [
    "stochastic_gradient_descent_with_nesterov_momentum",
    "adaptive_moment_estimation_with_decoupled_weight_decay",
    "root_mean_square_propagation_centered",
    "sgd",
]
#: Eight more choices of long values: 11 axes, about 115 px apart.
CHOICES = {
    f"c{i}": [f"a_long_choice_value_number_one_{i}", f"another_long_choice_value_{i}"]
    for i in range(8)
}
SPACE = {
    "optimizer": hp.choice("optimizer", OPTIMIZERS),
    "lr": hp.uniform("lr", 0, 1),
    **{name: hp.choice(name, values) for name, values in CHOICES.items()},
}

_TICKS = """
const div = document.getElementById('plot-parallel');
const box = div.getBoundingClientRect();
return [[box.left, box.right], [...div.querySelectorAll('.tick text')].map((t) => {
  const r = t.getBoundingClientRect();
  return [t.textContent, r.left, r.right, r.top, r.bottom];
})];
"""


def test_long_choice_labels_do_not_overlap(tmp_path, browser):
    data = random_study(SPACE, lambda c: c["lr"], 30)
    out = tmp_path / "choices.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "parallel")
    (left, right), ticks = browser.execute_script(_TICKS)
    texts = [t[0] for t in ticks]
    assert any("…" in t for t in texts), texts  # long ones were cut...
    assert "sgd" in texts  # ...short ones kept whole
    overlapping = [
        (a[0], b[0])
        for a, b in itertools.combinations(ticks, 2)
        if a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]
    ]
    assert not overlapping, overlapping
    assert all(left <= t[1] and t[2] <= right for t in ticks), (left, ticks)
    # each cut label keeps the start and the end of its choice
    shown = [t for t in texts if "…" in t]
    values = OPTIMIZERS + [v for vs in CHOICES.values() for v in vs]
    for text in shown:
        head, tail = text.split("…")
        assert any(v.startswith(head) and v.endswith(tail) for v in values), text


ROUND_SPACE = {
    "lr": hp.uniform("lr", 0.0137, 0.911),
    "decay": hp.loguniform("decay", math.log(3e-6), math.log(0.37)),
    "width": hp.quniform("width", 13, 997, 1),
    "opt": hp.choice(
        "opt", [{"m": hp.uniform("m", 0.031, 0.97)}, {"m": None}]
    ),  # m is inactive in about half the trials: an "inactive" tick
}


def round_label(text: str) -> bool:
    """Whether tick label ``text`` is a round number: 2 significant digits at most
    (``0.25``, ``1.5``, ``200``, ``5e-05``; not ``0.137``)."""
    mantissa = text.split("e")[0]
    digits = mantissa.replace("−", "").replace("-", "").replace(".", "").strip("0")
    return len(digits) <= 2


def is_number(text: str) -> bool:
    try:
        float(text.replace("−", "-"))
    except ValueError:
        return False
    return True


def test_numeric_axes_have_round_tick_labels(tmp_path, browser):
    """Ticks of a numeric parameter's axis (linear, log, with an ``inactive``
    tick) sit on round values, as matplotlib's tick locators choose them. Before,
    five evenly spaced ticks from the smallest to the largest value drawn were
    labelled 0.0215, 0.247, ... ."""
    data = random_study(ROUND_SPACE, lambda c: c["lr"], 40, seed=3)
    out = tmp_path / "round.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "parallel")
    _, ticks = browser.execute_script(_TICKS)
    numeric = [t[0] for t in ticks if is_number(t[0])]
    assert len(numeric) >= 12, numeric  # 3+ per numeric axis, the loss's too
    assert all(round_label(text) for text in numeric), numeric
    assert "inactive" in [t[0] for t in ticks]
