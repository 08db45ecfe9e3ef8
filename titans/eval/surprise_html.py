"""The surprise map as one self-contained HTML page: the document, each token shaded by what the chosen
memory layer and head recorded for it (surprise by default), with a layer / head / quantity selector and
the token's values on hover. CSS, script and data are inline: the page works offline, from a file."""

from __future__ import annotations

import html
import json

import numpy as np

from ..layers.write_record import FIELDS
from .surprise import SurpriseMap

LABELS = {
    "inner_loss": "surprise ||M(k) - v||² before the write (Eq. 12)",
    "weight_change": "weight change ||W_t - W_{t-1}||",
    "theta": "theta, inner learning rate (Eq. 13)",
    "eta": "eta, momentum: past surprise kept (Eq. 13)",
    "alpha": "alpha, forgetting (Eq. 14)",
}

_STYLE = """
body { font: 14px/1.5 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 8px 16px; z-index: 1; }
h1 { font-size: 16px; margin: 0 0 6px; }
label { margin-right: 14px; }
#legend { display: inline-block; width: 160px; height: 12px; vertical-align: middle; margin: 0 6px;
          background: linear-gradient(to right, rgba(230,60,20,0), rgba(230,60,20,0.85)); border: 1px solid #ccc; }
#info { font: 12px monospace; color: #444; min-height: 1.5em; margin-top: 4px; white-space: pre; }
#text { font: 14px/1.7 ui-monospace, monospace; white-space: pre-wrap; word-wrap: break-word; padding: 16px;
        max-width: 1100px; }
#text span:hover { outline: 1px solid #333; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('surprise-data').textContent);
const spans = document.getElementById('text').children;
const $ = id => document.getElementById(id);
function fill(select, options) {
  options.forEach(([value, text]) => { const o = document.createElement('option'); o.value = value;
    o.textContent = text; select.appendChild(o); });
}
fill($('layer'), data.layers.map((name, i) => [i, name]));
fill($('head'), [['mean', 'mean over heads']].concat([...Array(data.heads).keys()].map(h => [h, 'head ' + h])));
fill($('field'), data.fields.map(f => [f, data.labels[f]]));
function series(field) {
  const perHead = data.values[field][+$('layer').value];
  if ($('head').value !== 'mean') return perHead[+$('head').value];
  return perHead[0].map((_, t) => perHead.reduce((sum, row) => sum + row[t], 0) / perHead.length);
}
function quantile(sorted, q) { return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]; }
function shade() {
  const v = series($('field').value);
  const sorted = Array.from(v).sort((a, b) => a - b);
  const lo = quantile(sorted, 0.02), hi = quantile(sorted, 0.98);
  for (let t = 0; t < spans.length; t++) {
    const s = hi > lo ? Math.min(1, Math.max(0, (v[t] - lo) / (hi - lo))) : 0;
    spans[t].style.background = 'rgba(230,60,20,' + (0.85 * s).toFixed(3) + ')';
  }
  $('range').textContent = lo.toPrecision(3) + ' … ' + hi.toPrecision(3) + ' (2nd-98th percentile)';
}
document.getElementById('text').addEventListener('mouseover', event => {
  const t = Array.prototype.indexOf.call(spans, event.target);
  if (t < 0) return;
  const parts = data.fields.map(f => f + ' ' + series(f)[t].toPrecision(4));
  $('info').textContent = 'token ' + t + ' ' + JSON.stringify(event.target.textContent) + '  ' + parts.join('  ');
});
['layer', 'head', 'field'].forEach(id => $(id).addEventListener('change', shade));
shade();
"""


def _rounded(values: np.ndarray) -> list:
    """Four significant digits: the page stays small and the shading does not need more."""
    return [[[float(f"{x:.4g}") for x in row] for row in head] for head in values]


def surprise_html(surprise: SurpriseMap, title: str) -> str:
    """The page for ``surprise``: one ``<span>`` per token, in order, holding exactly the token's text."""
    data = {
        "layers": surprise.layers, "heads": int(surprise.values["inner_loss"].shape[1]), "fields": list(FIELDS),
        "labels": LABELS, "values": {field: _rounded(surprise.values[field]) for field in FIELDS},
    }
    # inside <script>, "</" would end the element early
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    tokens = "".join(f"<span>{html.escape(text)}</span>" for text in surprise.tokens)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<label>layer <select id="layer"></select></label><label>head <select id="head"></select></label>
<label>shade by <select id="field"></select></label>
low<span id="legend"></span>high <span id="range"></span>
<div id="info">hover a token for its values</div></header>
<div id="text">{tokens}</div>
<script id="surprise-data" type="application/json">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
