"""A scored day's outcomes as a page a person reads: the realized ROC-AUC of every judged day against the test
ROC-AUC of the model that scored it (inline SVG), and the day's churn per tier for targeted and control users.

Jinja2 with autoescaping, self-contained (no script, stylesheet or font from elsewhere), like the model card
(``core/registry/card_page.py``, whose style and number format it shares)."""

from __future__ import annotations

import pandas as pd

from churn_assets.core.registry.card_page import ENV, STYLE
from churn_assets.core.registry.card_page import fmt as card_fmt

WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 560, 220, 44, 10, 180


def fmt(value) -> str:
    """The card's number format; a dash where a group had only one kind of user."""
    return "–" if isinstance(value, float) and value != value else card_fmt(value)


PAGE = ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Outcomes of {{ day }}</title><style>{{ style }}</style></head>
<body>
<h1>Outcomes of the predictions for {{ day }} <small>{{ version }}</small></h1>
<p>{{ users }} users scored on {{ day }} and labelled once its horizon had passed. Realized ROC-AUC
{{ fmt(realized) }} against the model's test ROC-AUC {{ fmt(test) }}; recency alone {{ fmt(recency) }},
BG/NBD {{ fmt(bg_nbd) }} on the same users.</p>

<h2 id="decay">Realized ROC-AUC per scored day</h2>
<svg role="img" aria-label="realized ROC-AUC per scored day against the test ROC-AUC" width="{{ width }}"
height="{{ height }}">
<line x1="{{ left }}" y1="{{ bottom }}" x2="{{ width - 10 }}" y2="{{ bottom }}" stroke="#444"/>
<line x1="{{ left }}" y1="{{ top }}" x2="{{ left }}" y2="{{ bottom }}" stroke="#444"/>
<text x="4" y="{{ bottom + 4 }}">{{ fmt(low) }}</text><text x="4" y="{{ top + 4 }}">{{ fmt(high) }}</text>
{% if line %}<polyline fill="none" stroke="#3a6ea5" stroke-width="2" points="{{ line }}"/>{% endif %}
{% for p in points %}<circle cx="{{ p.x }}" cy="{{ p.y }}" r="3" fill="#3a6ea5">
<title>{{ p.day }}: {{ p.value }}</title></circle>{% endfor %}
{% for t in tests %}<line x1="{{ t.x1 }}" y1="{{ t.y }}" x2="{{ t.x2 }}" y2="{{ t.y }}" stroke="#d9822b"
stroke-dasharray="4 3"/>{% endfor %}
<text x="{{ left }}" y="{{ bottom + 16 }}">{{ first }}</text>
<text x="{{ width - 80 }}" y="{{ bottom + 16 }}">{{ last }}</text>
<line x1="{{ width - 150 }}" y1="{{ top + 6 }}" x2="{{ width - 130 }}" y2="{{ top + 6 }}" stroke="#3a6ea5"/>
<text x="{{ width - 126 }}" y="{{ top + 10 }}">realized</text>
<line x1="{{ width - 150 }}" y1="{{ top + 22 }}" x2="{{ width - 130 }}" y2="{{ top + 22 }}" stroke="#d9822b"
stroke-dasharray="4 3"/><text x="{{ width - 126 }}" y="{{ top + 26 }}">test</text>
</svg>

<h2 id="groups">Churn of targeted and control users per risk tier</h2>
<table>
<tr><th>group</th><th>risk tier</th><th>users</th><th>churned</th><th>churn rate</th><th>mean predicted</th></tr>
{% for row in rows %}<tr><td>{{ row.group_name }}</td><td>{{ row.risk_tier }}</td><td>{{ row.users }}</td>
<td>{{ row.churned }}</td><td>{{ fmt(row.churn_rate) }}</td><td>{{ fmt(row.mean_probability) }}</td></tr>
{% endfor %}
</table>
<p class="note">The control group is held out of retention work; a difference of a few points on a few hundred
users is noise.</p>
</body></html>
""")


def outcomes_page(day: str, outcomes: pd.DataFrame, history: pd.DataFrame, tests: dict[str, float]) -> str:
    """The page of ``day``: its ``outcomes`` rows, and ``history`` (as_of_date, model_version, roc_auc of every
    judged day, this one included) against each version's test ROC-AUC (``tests``)."""
    overall = outcomes[(outcomes["group_name"] == "all") & (outcomes["risk_tier"] == "all")].iloc[0]
    history = history.dropna(subset=["roc_auc"]).sort_values("as_of_date").reset_index(drop=True)
    values = [*history["roc_auc"], *(v for v in tests.values() if v is not None)]
    low, high = (min(values) - 0.02, min(1.0, max(values) + 0.02)) if values else (0.5, 1.0)
    span = max(len(history) - 1, 1)

    def x(i: int) -> float:
        return round(LEFT + 10 + i * (WIDTH - LEFT - 30) / span, 1)

    def y(value: float) -> float:
        return round(BOTTOM - (value - low) / max(high - low, 1e-9) * (BOTTOM - TOP), 1)

    points = [
        {"x": x(i), "y": y(v), "day": pd.Timestamp(d).date().isoformat(), "value": fmt(v)}
        for i, (d, v) in enumerate(zip(history["as_of_date"], history["roc_auc"], strict=True))
    ]
    segments = []  # each version's test ROC-AUC over the days it scored
    for version, rows in history.groupby("model_version", sort=False):
        if tests.get(version) is not None:
            segments.append({"x1": x(rows.index.min()) - 4, "x2": x(rows.index.max()) + 4, "y": y(tests[version])})
    return PAGE.render(
        day=day,
        version=overall["model_version"],
        users=int(overall["users"]),
        realized=overall["roc_auc"],
        test=tests.get(overall["model_version"]),
        recency=overall["recency_roc_auc"],
        bg_nbd=overall["bg_nbd_roc_auc"],
        points=points,
        line=" ".join(f"{p['x']},{p['y']}" for p in points) if len(points) > 1 else "",
        tests=segments,
        low=low,
        high=high,
        first=points[0]["day"] if points else "",
        last=points[-1]["day"] if points else "",
        rows=outcomes.to_dict("records"),
        style=STYLE,
        fmt=fmt,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        bottom=BOTTOM,
    )
