"""The model card and the registry as pages a person reads (``card.json`` stays the machine form).

``card_page`` renders one version: what churn means to it, its training window and sample, its test figures
beside every baseline on the same rows, its calibration (a plot of predicted against observed churn per risk
tier, drawn as inline SVG, and the tier table), the candidates it was chosen among, and its most important
features. ``registry_page`` lists every version with production marked. Both are Jinja2 templates with HTML
autoescaping on (every value from a card is escaped), self-contained (no script, no stylesheet or font from
elsewhere), so they open offline, from the artifact store as well as from the HTTP API.
"""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from churn_assets.core.registry.card import BASELINE_ROLE, ModelCard

TIERS = ("low", "medium", "high")
TOP_FEATURES = 12
METRICS = ("roc_auc", "pr_auc", "lift_top_decile", "brier", "log_loss", "precision", "recall")
STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
h1 small{color:#666;font-weight:normal}.prod{color:#0a6b2c;font-weight:bold}.note{color:#555}svg text{font-size:11px}"""

ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True)

CARD = ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card {{ card.version }}</title>
<style>{{ style }}</style></head><body>
<h1>Model card {{ card.version }} <small>{{ card.candidate }}{% if baseline %} (baseline){% endif %}</small></h1>
<p>{% if production is true %}<span class="prod">In production.</span> {% elif production is false %}
Not in production. {% endif %}Registered {{ card.created }}; file sha256 {{ (card.sha256 or "")[:12] }}.
{% if production is not none %}<a href="../../models.html">All versions</a>{% endif %}</p>

<h2 id="definition">What churn means</h2>
<p>{{ definition }}</p>

<h2 id="training">Training window and sample</h2>
<table>
<tr><th>window</th><th>first</th><th>last</th><th>rows</th></tr>
<tr><td>training</td><td>{{ windows.train_first }}</td><td>{{ windows.train_last }}</td>
<td>{{ card.training_rows }}</td></tr>
<tr><td>gap (the label horizon)</td><td colspan="2">{{ windows.gap_days }} days</td><td></td></tr>
<tr><td>test</td><td>{{ windows.test_first }}</td><td>{{ windows.test_last }}</td><td>{{ card.test_rows }}</td></tr>
</table>
{% if sample %}<p class="note">Sample: {{ sample.method }}; fraction {{ sample.fraction }} of {{ sample.labelled_rows }}
labelled rows (at most {{ sample.max_rows }}).</p>{% endif %}

<h2 id="metrics">Test figures beside the baselines (the same test rows)</h2>
<table>
<tr><th>metric</th><th>this model</th>{% for name in baselines %}<th>{{ name }}</th>{% endfor %}</tr>
{% for metric in metrics %}<tr><td>{{ metric }}</td><td>{{ fmt(card.metrics.get(metric)) }}</td>
{% for name in baselines %}<td>{{ fmt(baselines[name].get(metric)) }}</td>{% endfor %}</tr>
{% endfor %}
</table>

<h2 id="calibration">Calibration</h2>
<p>Expected calibration error {{ fmt(calibration.ece) }}; mean predicted {{ fmt(calibration.mean_probability) }}
against {{ fmt(calibration.churn_rate) }} observed. {{ calibration.method }}.
{% if calibration.recalibrated_on %}{% set recal = calibration.recalibrated_on %}Recalibrated on {{ recal.first }}
&hellip; {{ recal.last }} ({{ recal.rows }} rows){% if recal.from %},
while in production: the fitted model and its ranking are {{ recal.from }}'s{% endif %}.{% endif %}</p>
<svg role="img" aria-label="predicted and observed churn per risk tier" width="480" height="200">
<line x1="40" y1="170" x2="350" y2="170" stroke="#444"/><line x1="40" y1="10" x2="40" y2="170" stroke="#444"/>
<text x="4" y="174">0</text><text x="4" y="14">1</text>
{% for bar in bars %}
<rect x="{{ bar.x }}" y="{{ 170 - bar.predicted_h }}" width="40" height="{{ bar.predicted_h }}" fill="#8fb3d9"/>
<rect x="{{ bar.x + 44 }}" y="{{ 170 - bar.observed_h }}" width="40" height="{{ bar.observed_h }}" fill="#d98f8f"/>
<text x="{{ bar.x + 20 }}" y="186">{{ bar.tier }}</text>
{% endfor %}
<rect x="360" y="14" width="10" height="10" fill="#8fb3d9"/><text x="374" y="23">mean predicted</text>
<rect x="360" y="30" width="10" height="10" fill="#d98f8f"/><text x="374" y="39">observed churn</text>
</svg>
<table>
<tr><th>risk tier</th><th>rows</th><th>mean predicted</th><th>observed churn</th></tr>
{% for tier in tiers %}<tr><td>{{ tier.name }}</td><td>{{ tier.rows }}</td><td>{{ fmt(tier.predicted) }}</td>
<td>{{ fmt(tier.observed) }}</td></tr>{% endfor %}
</table>
{% if calibration.tiers_ordered is false %}
<p class="note">The observed churn does not rise from low to high.</p>{% endif %}

<h2 id="candidates">Candidates</h2>
<p>Chosen by {{ selection.chosen_by or "test figures" }}
{%- if card.fallback %}; fallback {{ card.fallback }}{% endif %}.</p>
<table>
<tr><th>candidate</th><th>roc_auc</th><th>pr_auc</th><th>log_loss</th></tr>
{% for name, m in card.candidates.items() %}<tr><td>{{ name }}{% if name == card.candidate %} (chosen){% endif %}</td>
<td>{{ fmt(m.get("roc_auc")) }}</td><td>{{ fmt(m.get("pr_auc")) }}</td><td>{{ fmt(m.get("log_loss")) }}</td></tr>
{% endfor %}
</table>

<h2 id="features">Most important features</h2>
{% if features %}<table>
<tr><th>feature</th><th>importance</th></tr>
{% for name, value in features %}<tr><td>{{ name }}</td><td>{{ fmt(value) }}</td></tr>{% endfor %}
</table>{% else %}<p class="note">{{ card.candidate }} reads no feature importance (a baseline scores from
{{ card.features | length }} columns by its own rule).</p>{% endif %}
<p class="note">{{ card.features | length }} input columns; the machine form of this card is card.json.</p>
</body></html>
""")

REGISTRY = ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model registry</title><style>{{ style }}</style></head><body>
<h1>Model registry</h1>
<p>{% if production %}Production: <span class="prod">{{ production }}</span>.{% else %}No version is in production
yet.{% endif %}</p>
<table>
<tr><th>version</th><th>created</th><th>candidate</th><th>test window</th><th>roc_auc</th><th>pr_auc</th><th></th></tr>
{% for card in cards %}<tr><td><a href="models/{{ card.version }}/card.html">{{ card.version }}</a></td>
<td>{{ card.created }}</td><td>{{ card.candidate }}{% if card.role == baseline_role %} (baseline){% endif %}</td>
<td>{{ card.test_window }}</td><td>{{ fmt(card.metrics.get("roc_auc")) }}</td>
<td>{{ fmt(card.metrics.get("pr_auc")) }}</td>
<td>{% if card.version == production %}<span class="prod">production</span>{% endif %}</td></tr>
{% endfor %}
</table>
{% for problem in unreadable %}<p class="note">Not listed: {{ problem }}</p>{% endfor %}
</body></html>
""")


def fmt(value) -> str:
    """A figure as a person reads it: four decimals, or a dash when the card has none."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int | float):
        return f"{value:.4f}"
    return str(value)


def definition_text(card: ModelCard) -> str:
    horizon = card.label_horizon_days or 30
    eligible = card.eligibility_days or 30
    if (card.definition or "inactivity") == "cancellation":
        grace = card.renewal_grace_days or 0
        return (
            f"A covered subscriber churns on day t when the subscription lapses on one of t+1 … t+{horizon} (a "
            f"renewal within {grace} days continues it). Scored: the subscribers covered at the end of day t."
        )
    return (
        f"A user churns on day t when they have no active day in t+1 … t+{horizon}. Scored and labelled: the "
        f"users active in the {eligible} days up to t."
    )


def card_page(card: ModelCard, production: bool | None) -> str:
    """One version's page; ``production`` None for the copy stored beside ``card.json``, which says nothing that
    changes after registration (whether it is in production) and links nowhere."""
    figures = {name: (card.calibration.get("tiers") or {}).get(name, {}) for name in TIERS}
    tiers = [
        {"name": n, "rows": f.get("rows", 0), "predicted": f.get("mean_probability"), "observed": f.get("churn_rate")}
        for n, f in figures.items()
    ]
    bars = [
        {"tier": t["name"], "x": 60 + 100 * i, "predicted_h": round(160 * (t["predicted"] or 0), 1),
         "observed_h": round(160 * (t["observed"] or 0), 1)}
        for i, t in enumerate(tiers)
    ]  # fmt: skip
    importance = sorted((card.feature_importance or {}).items(), key=lambda kv: -kv[1])
    return CARD.render(
        card=card,
        production=production,
        baseline=card.role == BASELINE_ROLE,
        definition=definition_text(card),
        windows=card.windows,
        sample=card.training_sample,
        metrics=[m for m in METRICS if m in card.metrics],
        baselines={name: figures for name, figures in card.baselines.items() if isinstance(figures, dict)},
        calibration=card.calibration,
        tiers=tiers,
        bars=bars,
        selection=card.selection,
        features=[(name, value) for name, value in importance[:TOP_FEATURES] if value > 0],
        fmt=fmt,
        style=STYLE,
    )


def registry_page(cards: list[ModelCard], production: str | None, unreadable: list[str]) -> str:
    """Every version, newest first, production marked."""
    return REGISTRY.render(
        cards=cards, production=production, unreadable=unreadable, baseline_role=BASELINE_ROLE, fmt=fmt, style=STYLE
    )
