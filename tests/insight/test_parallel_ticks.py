"""Long choice values on the parallel-coordinates axes stay readable in headless
Chromium: each tick label is cut in its middle by an ellipsis to the room between
two axes, so no two labels overlap, and the first axis's labels are not cut off at
the figure's left edge. Labels of 30-50 characters were drawn over the previous
axis's labels."""

from __future__ import annotations

import itertools

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
