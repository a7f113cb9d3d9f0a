"""The report's tables are written straight from the rows; pandas' Styler, which wrote them
before, is the reference: the same markup, byte for byte, for every kind of cell and tint."""

import numpy as np
import pandas as pd
import pytest

from experiments.report.html_tables import TINTS, VERDICT_COLOURS, Tint, header, render


def styler_html(df, table_id, tints, digits, numbers=None, verdicts=()):
    """What `render` wrote when it was built on pandas' Styler."""
    df = df.reset_index(drop=True)
    numbers = df if numbers is None else numbers.reset_index(drop=True)
    style = (
        df.rename(columns=header).style.hide(axis="index").set_uuid(table_id).set_table_attributes('class="sortable"')
    )
    style = style.format(precision=digits, na_rep="", escape="html", thousands=None)
    verdict_css = lambda text: (
        f"background-color: {VERDICT_COLOURS[w]}" if (w := str(text).split(":")[0].strip()) in VERDICT_COLOURS else ""
    )  # noqa: E731
    for column in verdicts:
        style = style.map(verdict_css, subset=[header(column)])
    for column, tint in tints.items():
        values = pd.to_numeric(
            (numbers if (tint.values or column) in numbers else df)[tint.values or column], errors="coerce"
        ).to_numpy(float)
        cmap, low, high = TINTS[tint.kind]
        limit = tint.limit or float(np.nanmax(np.abs(values)))
        vmin, vmax = (0.0, 1.0) if tint.kind != "signed" else (-limit, limit)
        rows = np.flatnonzero(np.isfinite(values))
        style = style.background_gradient(
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            low=low,
            high=high,
            subset=pd.IndexSlice[rows, [header(column)]],
            gmap=values[rows],
        )
    return style.to_html()


@pytest.mark.parametrize("digits", [2, 3])
def test_tables_are_written_as_pandas_styler_wrote_them(digits):
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({
        "model": ["cnn32", "cnn128"] * (n // 2),
        "variant": [f"edit <{i}> & 'more' \"q\"" for i in range(n)],
        "fooling_rate": np.where(rng.random(n) < 0.2, np.nan, rng.random(n).round(2)),
        # repeated values share one CSS rule
        "mean_delta_margin": rng.normal(0, 3, n),
        "p_ai": rng.random(n),
        "n": rng.integers(0, 1000, n),
        "flag": rng.random(n) < 0.5,
        "verdict": rng.choice(["better: +0.12 [0.01, 0.2]", "worse: -1", "no difference: 0", "other"], n),
        "note": [None if i % 7 == 0 else f"x{i}" for i in range(n)],
        "interval": [f"{v:.2f}\u00a0[0.1,\u00a00.9]" for v in rng.random(n)],
    })  # fmt: skip
    numbers = pd.DataFrame({"interval": rng.random(n)})
    tints = {
        "fooling_rate": Tint("rate"),
        "mean_delta_margin": Tint("signed"),
        "p_ai": Tint("p_ai"),
        "interval": Tint("rate"),
    }
    html = render(df, "t", tints, digits, numbers=numbers, verdicts=("verdict",))
    assert html == styler_html(df, "t", tints, digits, numbers=numbers, verdicts=("verdict",))
    assert html.count("<tr>") == n + 1 and "&lt;3&gt; &amp; &#39;more&#39; &#34;q&#34;" in html
    limited = {"mean_delta_margin": Tint("signed", limit=1.0)}
    assert render(df, "u", limited, digits) == styler_html(df, "u", limited, digits)
