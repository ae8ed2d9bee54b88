"""Threshold tuning reports: one self-contained HTML file (inline CSS and SVG, no scripts,
no network) and a machine-readable JSON beside it.

Per language and score: the histogram of the score (log10 for perplexities) with the
thresholds and any fitted mixture; keep/drop rates and the estimated kept tokens; the
diagnostics and a plain-language verdict on whether the threshold is supported; the PR
curve and confusion matrix when labels exist; sample documents at several percentiles and
just either side of each threshold. Every document text is HTML-escaped.
"""
from __future__ import annotations

import html
import json
import math

import numpy as np
import pyarrow as pa

from winnow.schemas.arrow import SCORE_COLUMNS

from winnow.models.perplexity import LOG10, scale_of, to_scale

from .tuning import METHODS, TuneOptions, _json_safe, tune_score
from .tuning import format_number as _num, is_finite_number as _finite

SNIPPET = 300
PERCENTILES = (5, 25, 50, 75, 95)


def build_report(table, directions: dict, *, thresholds: dict | None = None, labels: dict | None = None,
                 opts: TuneOptions | None = None, title: str = "Winnow threshold report") -> dict:
    """The report's data (what the JSON holds); :func:`render_html` draws it."""
    opts = opts or TuneOptions()
    # Python objects only for the few columns read row by row (memory: the text column stays
    # in Arrow, and a sample document's text is taken when it is shown).
    scores_used = sorted({score for d in directions.values() for score in d} & set(table.column_names))
    cols = table.select([c for c in ("lang", "doc_id") if c in table.column_names]).to_pydict()
    langs = np.array(cols["lang"], dtype=object)
    texts = table.column("text").combine_chunks() if "text" in table.column_names else pa.array([""] * len(langs))
    ids = np.array(cols["doc_id"], dtype=object)
    tokens = (np.nan_to_num(table.column("n_tokens").to_numpy(zero_copy_only=False).astype(float))
              if "n_tokens" in table.column_names else np.zeros(len(langs)))
    numeric = {score: table.column(score).to_numpy(zero_copy_only=False).astype(float) for score in scores_used
               if pa.types.is_floating(table.schema.field(score).type) or pa.types.is_integer(table.schema.field(score).type)}
    report = {"title": title, "thresholds_version": (thresholds or {}).get("version"), "languages": {}}
    router = None
    if thresholds:
        from .routing import Router, ThresholdsError, load_thresholds_dict

        try:
            source = f"thresholds {thresholds.get('version')}" if thresholds.get("version") else "thresholds"
            router = Router(load_thresholds_dict(thresholds, directions, source=source), directions)
        except ThresholdsError as exc:  # shown in the report; its scores and diagnostics still help
            report["thresholds_problem"] = " ".join(str(exc).split())
    for lang in sorted(set(langs.tolist()) & set(directions)):
        mask = langs == lang
        rules = _rules_of(thresholds, lang)
        lab = np.array([labels.get(i, -1) for i in ids[mask]], dtype=int) if labels else None
        decisions = _decisions(table, mask, lang, router)
        dropped = np.array([d.route == "drop" for d in decisions], dtype=bool)
        scores = {}
        for score, direction in sorted(directions[lang].items()):
            raw = numeric[score][mask] if score in numeric else _floats(
                table.column(score).to_pylist() if score in table.column_names else [None] * len(langs))[mask]
            diag = tune_score(score, direction, raw, opts, lab)
            # Only finite cuts and bands are drawn (a None, NaN or infinite one is left out).
            cuts = [float(r["value"]) for r in rules if r.get("score") == score and _finite(r.get("value"))]
            bands = [b for b in (_band(r) for r in rules if r.get("score") == score) if b]
            scores[score] = {
                "direction": direction, "diagnostics": diag, "thresholds": cuts, "cascade_bands": bands,
                "histogram": _histogram(score, raw, cuts + [v for b in bands for v in b], diag),
                "samples": _samples(score, raw, _Taken(texts, np.where(mask)[0]), ids[mask], cuts, direction),
            }
        entry = {"documents": int(mask.sum()), "scores": scores, "rules": rules}
        guard = _guard_of(thresholds, lang)
        if guard:
            entry["guard"] = guard
        if router is not None:
            entry["drop_rate"] = float(dropped.mean()) if len(dropped) else 0.0
            entry["kept_tokens"] = int(tokens[mask][~dropped].sum())
            entry["dropped_tokens"] = int(tokens[mask][dropped].sum())
            by = {}
            for d in decisions:
                if d.decided_by:
                    by[d.decided_by] = by.get(d.decided_by, 0) + 1
            entry["decided_by"] = dict(sorted(by.items()))
            if lab is not None and (lab >= 0).any():
                known = lab >= 0
                y, pred = lab[known], dropped[known]
                entry["confusion"] = {"tp": int((pred & (y == 1)).sum()), "fp": int((pred & (y == 0)).sum()),
                                      "fn": int((~pred & (y == 1)).sum()), "tn": int((~pred & (y == 0)).sum())}
        report["languages"][lang] = entry
    return _json_safe(report)


class _Taken:
    """Rows ``index`` of an Arrow string array, read one at a time (``taken[i]``)."""

    def __init__(self, array, index):
        self.array, self.index = array, index

    def __getitem__(self, i):
        return self.array[int(self.index[i])].as_py()


def _band(rule: dict) -> list[float] | None:
    """A rule's cascade band as two finite numbers, else None."""
    cascade = rule.get("cascade")
    band = cascade.get("band") if isinstance(cascade, dict) else None
    if isinstance(band, (list, tuple)) and len(band) == 2 and all(_finite(v) for v in band):
        return [float(band[0]), float(band[1])]
    return None


def _floats(values) -> np.ndarray:
    """A score column as floats: None and anything that is not a number become NaN."""
    return np.array([float(v) if _finite(v) or isinstance(v, float) else np.nan for v in values], dtype=float)


def _rules_of(thresholds: dict | None, lang: str) -> list[dict]:
    """The rules of ``lang`` (or of ``*``) in a thresholds dict, whatever its shape."""
    languages = (thresholds or {}).get("languages") if isinstance(thresholds, dict) else None
    if not isinstance(languages, dict):
        return []
    spec = languages.get(lang) or languages.get("*")
    rules = spec.get("rules") if isinstance(spec, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def _guard_of(thresholds: dict | None, lang: str) -> dict | None:
    """What tune's guard rails found for ``lang`` (diagnostics.guard of a thresholds file)."""
    languages = (thresholds or {}).get("languages") if isinstance(thresholds, dict) else None
    spec = languages.get(lang) if isinstance(languages, dict) else None
    diag = spec.get("diagnostics") if isinstance(spec, dict) else None
    guard = diag.get("guard") if isinstance(diag, dict) else None
    return guard if isinstance(guard, dict) else None


def _guard_section(guard: dict, rules: list[dict]) -> str:
    """Tune's guard rails: each rule's drop rate on the labelled rows and on the corpus
    sample, the rules refused and why, and how far each feature lies from the corpus."""
    e = html.escape
    out = [f"<h3>guard rails</h3><p>Tuned on {_num(guard.get('labelled'), ',')} labelled rows (prevalence "
           f"{_num(guard.get('labelled_prevalence'), '.1%')}) and checked on a corpus sample of "
           f"{_num(guard.get('corpus_sample'), ',')} unlabelled rows.</p>"]
    rows = []
    for r in rules:
        g = r.get("guard") if isinstance(r, dict) else None
        if not isinstance(g, dict):
            continue
        flags = "; ".join(str(x) for x in (g.get("degenerate"), g.get("warning"),
                                            "FORCED past the guard: " + str(g.get("refused")) if r.get("forced")
                                            else None) if x)
        rows.append(f"<tr><td>{e(str(r.get('score')))}</td><td>{_num(g.get('labelled_drop_rate'), '.1%')}</td>"
                    f"<td>{_num(g.get('corpus_drop_rate'), '.1%')}</td><td>{e(flags)}</td></tr>")
    if rows:
        out.append("<table><tr><th>rule</th><th>drops of the labelled rows</th><th>drops of the corpus sample</th>"
                   "<th>flags</th></tr>" + "".join(rows) + "</table>")
    for item in guard.get("refused") or []:
        if isinstance(item, dict):
            out.append(f"<div class=\"verdict warn\"><b>Refused: {e(str(item.get('score')))}.</b> "
                       f"{e(str(item.get('why')))}</div>")
    shift = guard.get("feature_shift")
    if isinstance(shift, dict) and shift:
        cells = "".join(f"<tr><td>{e(str(f))}</td><td>{_num(v.get('ks'), '.2f')}</td>"
                        f"<td>{_num(v.get('labelled_median'))}</td><td>{_num(v.get('corpus_median'))}</td></tr>"
                        for f, v in sorted(shift.items()) if isinstance(v, dict))
        out.append("<table><tr><th>feature</th><th>shift (KS: 0 same, 1 disjoint)</th><th>labelled median</th>"
                   "<th>corpus median</th></tr>" + cells + "</table>")
    return "".join(out)


def _decisions(table, mask, lang: str, router) -> list:
    """The Router's own decision on each document of ``lang`` (rules, combined rule, cascade,
    min_tokens, reader reasons), so the report shows what run does."""
    if router is None:
        return []
    needed = [c for c in table.column_names if c in ("route", "reason", "n_lines", "n_tokens") or c in SCORE_COLUMNS]
    rows = table.select(needed).filter(mask).to_pylist()
    return [router.decide(skip=r.get("reason") if r.get("route") == "scored" else None, lang=lang,
                          n_lines=r.get("n_lines") if r.get("n_lines") is not None else 1,
                          n_tokens=r.get("n_tokens"), scores=r) for r in rows]


def _histogram(score, raw, cuts, diag, bins: int = 40) -> dict:
    x = raw[np.isfinite(to_scale(score, raw))]
    x = to_scale(score, x)
    if len(x) == 0:
        return {"edges": [], "counts": []}
    lo, hi = float(x.min()), float(x.max())
    for c in cuts:
        t = float(to_scale(score, c))
        lo, hi = min(lo, t), max(hi, t)
    if hi == lo:
        hi = lo + 1
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    out = {"edges": edges.tolist(), "counts": counts.tolist(), "scale": scale_of(score)}
    mix = diag.get("mixture")
    if mix and len(x) >= 20:
        width = edges[1] - edges[0]
        grid = np.linspace(lo, hi, 120)
        comps = []
        for w, m, s in zip(mix["weights"], mix["means"], mix["sds"]):
            dens = w * np.exp(-(grid - m) ** 2 / (2 * s * s)) / (s * math.sqrt(2 * math.pi))
            comps.append((dens * len(x) * width).tolist())
        out["mixture"] = {"x": grid.tolist(), "components": comps}
    return out


def _samples(score, raw, texts, ids, cuts, direction) -> list[dict]:
    """Documents at percentiles and the three nearest either side of each threshold."""
    finite = np.where(np.isfinite(raw))[0]
    if len(finite) == 0:
        return []
    order = finite[np.argsort(raw[finite], kind="mergesort")]
    picked = []
    for p in PERCENTILES:
        i = order[min(len(order) - 1, int(round(p / 100 * (len(order) - 1))))]
        picked.append((f"p{p}", i))
    for c in cuts:
        pos = int(np.searchsorted(raw[order], c))
        for i in order[max(0, pos - 3):pos]:
            picked.append((f"just below {c:.4g}", i))
        for i in order[pos:pos + 3]:
            picked.append((f"just above {c:.4g}", i))
    out = []
    for where, i in picked:
        text = str(texts[i] or "")
        out.append({"where": where, "doc_id": str(ids[i]), "score": float(raw[i]),
                    "text": text[:SNIPPET] + ("…" if len(text) > SNIPPET else "")})
    return out


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;background:#fff}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin:20px 0 6px}table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f7}
.verdict{padding:8px 10px;border-left:4px solid #888;background:#f7f7f7;margin:6px 0}
.ok{border-color:#2a7}.warn{border-color:#d80}.doc{font-family:ui-monospace,monospace;font-size:12px;
white-space:pre-wrap;word-break:break-word;max-width:900px}.muted{color:#666}svg{background:#fcfcfc}
"""


def render_html(report: dict) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(report['title'])}</title>"
             f"<style>{CSS}</style></head><body><h1>{e(report['title'])}</h1>"]
    tv = report.get("thresholds_version")
    parts.append(f"<p class=\"muted\">Thresholds: {e(tv) if tv else 'none (scores only)'}. "
                 f"Perplexities are shown on a log10 scale. Lines: red = threshold; blue/orange = fitted "
                 f"mixture components; orange band = a cascade's uncertain band, where a neural LM decides.</p>")
    if report.get("thresholds_problem"):
        parts.append(f"<div class=\"verdict warn\"><b>Thresholds not applied.</b> "
                     f"{e(str(report['thresholds_problem']))}</div>")
    for lang, entry in report["languages"].items():
        parts.append(f"<h2 id=\"lang-{e(lang)}\">{e(lang)}: {entry['documents']} documents</h2>")
        if "drop_rate" in entry:
            parts.append(f"<p>Drop rate {_num(entry['drop_rate'], '.1%')}; estimated kept tokens "
                         f"{_num(entry.get('kept_tokens'), ',')} (dropped {_num(entry.get('dropped_tokens'), ',')}).</p>")
            by = entry.get("decided_by") or {}
            if _finite(by.get("neural")) and by["neural"] and entry.get("documents"):
                deciders = ", ".join(f"{k} {_num(v, ',')}" for k, v in by.items())
                parts.append(f"<p>Decided by: {e(deciders)}. The "
                             f"neural LMs re-decide the {by['neural']:,} documents "
                             f"({_num(by['neural'] / entry['documents'], '.1%')}) whose "
                             f"KenLM score falls in a cascade band (shaded orange below).</p>")
        if "confusion" in entry:
            c = entry["confusion"]
            parts.append("<table><tr><th></th><th>labelled bad</th><th>labelled good</th></tr>"
                         f"<tr><th>dropped</th><td>{c.get('tp')}</td><td>{c.get('fp')}</td></tr>"
                         f"<tr><th>kept</th><td>{c.get('fn')}</td><td>{c.get('tn')}</td></tr></table>")
        if entry.get("guard"):
            parts.append(_guard_section(entry["guard"], entry.get("rules") or []))
        for rule in entry.get("rules", []):
            if rule.get("score") == "combined":
                parts.append(_combined_section(rule))
        for score, s in entry["scores"].items():
            d = s["diagnostics"]
            supported = getattr(METHODS.get(d.get("method")), "supported_by_data", False)
            parts.append(f"<h3>{e(score)} <span class=\"muted\">(bad side: {e(s['direction'])})</span></h3>")
            cuts = [c for c in s.get("thresholds") or [] if _finite(c)]
            parts.append(_svg_histogram(s["histogram"], cuts, score, s.get("cascade_bands") or []))
            parts.append(f"<div class=\"verdict {'ok' if supported else 'warn'}\"><b>Verdict.</b> "
                         f"{e(_plain_verdict(d, cuts))}</div>")
            parts.append(_diag_table(d))
            if d.get("labels"):
                parts.append(_svg_pr(d["labels"]))
            parts.append(_samples_table(s["samples"]))
    parts.append("</body></html>")
    return "".join(parts)


def _combined_section(rule: dict) -> str:
    e = html.escape
    c, lab = rule.get("combined") or {}, (rule.get("diagnostics") or {}).get("labels")
    if not lab or not all(isinstance(w, (int, float)) for w in c.get("coef", [None])):
        return "<h3>combined score</h3><p class=\"muted\">no fitted diagnostics in this thresholds file</p>"
    rows = "".join(f"<tr><td>{e(str(f))}</td><td>{_num(w, '+.3f')}</td></tr>"
                   for f, w in zip(c.get("features") or [], c["coef"]))
    return (f"<h3>combined score (logistic regression)</h3><div class=\"verdict ok\"><b>Rule.</b> drop when "
            f"P(bad) &gt; {_num(rule.get('value'), '.3f')} ({e(str(rule.get('reason')))}): ROC-AUC "
            f"{_num(lab.get('roc_auc'), '.3f')}, precision {_num(lab.get('precision'), '.2f')}, recall "
            f"{_num(lab.get('recall'), '.2f')} on {e(str(lab.get('n')))} labelled documents.</div>"
            f"<table><tr><th>feature (standardized; log10 for perplexities and tokens)</th><th>weight</th></tr>"
            f"{rows}<tr><td>intercept</td><td>{_num(c.get('intercept'), '+.3f')}</td></tr></table>" + _svg_pr(lab))


def _plain_verdict(d: dict, cuts: list) -> str:
    if not _finite(d.get("value")):
        return str(d.get("verdict") or "no threshold")
    where = f"The threshold in force is {', '.join(_num(c) for c in cuts)}. " if cuts else "No rule uses this score. "
    return METHODS.get(d.get("method"), METHODS["percentile"]).plain_verdict(d, where)


def _diag_table(d: dict) -> str:
    e = html.escape
    rows = [("documents", d.get("n")), ("method", d.get("method")), ("suggested threshold", d.get("value")),
            ("drop rate at it", d.get("drop_rate"))]
    for method in (METHODS["mixture"], METHODS["labels"]):  # every score has a mixture fit; some have labels
        rows += method.diagnostics(d)
    cells = "".join(f"<tr><th>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in rows if v is not None)
    return f"<table>{cells}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return _num(v)
    return str(v)


def _samples_table(samples: list[dict]) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(s['where'])}</td><td>{_num(s.get('score'))}</td><td>{e(s['doc_id'])}</td>"
                   f"<td class=\"doc\">{e(s['text'])}</td></tr>" for s in samples)
    return ("<details><summary>Sample documents</summary><table><tr><th>where</th><th>score</th><th>id</th>"
            f"<th>text (first {SNIPPET} characters)</th></tr>{rows}</table></details>")


def _svg_histogram(h: dict, cuts: list, score: str, bands: list = (), w: int = 640, ht: int = 200) -> str:
    if not h.get("counts"):
        return "<p class=\"muted\">no finite scores</p>"
    edges, counts = h["edges"], h["counts"]
    lo, hi = edges[0], edges[-1]
    top = max(max(counts), 1)
    comps = (h.get("mixture") or {}).get("components", [])
    if comps:
        top = max(top, max(max(c) for c in comps))
    sx = lambda v: 40 + (v - lo) / (hi - lo) * (w - 60)
    sy = lambda c: ht - 30 - c / top * (ht - 50)
    bars = "".join(f"<rect x=\"{sx(edges[i]):.1f}\" y=\"{sy(c):.1f}\" width=\"{max(sx(edges[i + 1]) - sx(edges[i]) - 1, 1):.1f}\" "
                   f"height=\"{ht - 30 - sy(c):.1f}\" fill=\"#9bb\"/>" for i, c in enumerate(counts))
    lines = ""
    for color, comp in zip(("#36c", "#e80"), comps):
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(h["mixture"]["x"], comp))
        lines += f"<polyline points=\"{pts}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>"
    marks = ""
    tr = lambda v: to_scale(score, v)  # noqa: E731
    cuts = [c for c in cuts if _finite(c)]  # a None, NaN or infinite cut has no place on the axis
    bands = [b for b in bands if isinstance(b, (list, tuple)) and len(b) == 2 and all(_finite(v) for v in b)]
    for b_lo, b_hi in bands:  # the cascade's uncertain band: the neural LM decides inside it
        x0, x1 = sx(tr(b_lo)), sx(tr(b_hi))
        marks += (f"<rect x=\"{x0:.1f}\" y=\"15\" width=\"{max(x1 - x0, 1):.1f}\" height=\"{ht - 45}\" "
                  f"fill=\"#e80\" fill-opacity=\"0.18\"><title>cascade band {b_lo:.4g} .. {b_hi:.4g}</title></rect>")
    for c in cuts:
        t = tr(c)
        marks += (f"<line x1=\"{sx(t):.1f}\" x2=\"{sx(t):.1f}\" y1=\"15\" y2=\"{ht - 30}\" stroke=\"#d22\" "
                  f"stroke-width=\"2\"/><text x=\"{sx(t) + 3:.1f}\" y=\"14\" font-size=\"11\" fill=\"#d22\">{c:.4g}</text>")
    log_scale = h.get("scale") == LOG10
    # x ticks at round values of the axis' scale, labelled in the score's own units
    x_ticks = [(sx(math.log10(v)), _num(v)) for v in log_ticks(lo, hi)] if log_scale else \
        [(sx(t), _num(t)) for t in nice_ticks(lo, hi)]
    y_ticks = [(sy(c), f"{c:g}") for c in nice_ticks(0, top, 4) if c == int(c)]
    name = f"{score} (log scale)" if log_scale else score
    axis = (f"<line x1=\"40\" x2=\"{w - 20}\" y1=\"{ht - 30}\" y2=\"{ht - 30}\" stroke=\"#333\"/>"
            f"<line x1=\"40\" x2=\"40\" y1=\"15\" y2=\"{ht - 30}\" stroke=\"#333\"/>"
            + _ticks(x_ticks, axis="x", at=ht - 30) + _ticks(y_ticks, axis="y", at=40)
            + f"<text x=\"{w / 2:.0f}\" y=\"{ht - 2}\" font-size=\"11\" text-anchor=\"middle\">"
              f"{html.escape(name)}</text>"
            f"<text x=\"4\" y=\"10\" font-size=\"11\">documents</text>")
    return (f"<svg width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"histogram of {html.escape(score)}\">"
            f"{bars}{lines}{marks}{axis}</svg>")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values (steps of 1, 2 or 5 times a power of ten) from lo to hi."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo] if math.isfinite(lo) else []
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda s: abs(span / s - n))
    first = math.ceil(lo / step - 1e-9)
    return [float(f"{k * step:.12g}") for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round values (in the score's units) for an axis from 10**lo to 10**hi: powers of ten,
    or 1-3 or 1-2-5 steps of them, whichever gives about ``n``; a range inside one decade
    gets linear round values."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [10.0 ** lo] if math.isfinite(lo) else []
    best: list[float] = []
    for steps in ((1,), (1, 3), (1, 2, 5)):
        values = [m * 10.0 ** k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in steps
                  if lo - 1e-9 <= math.log10(m * 10.0 ** k) <= hi + 1e-9]
        if len(values) >= 2 and (not best or abs(len(values) - n) < abs(len(best) - n)):
            best = values
    if len(best) > 2 * n:  # many decades: every k-th power of ten
        best = best[::math.ceil(len(best) / n)]
    return best or [v for v in nice_ticks(10.0 ** lo, 10.0 ** hi, n) if v > 0]


def _ticks(ticks: list[tuple[float, str]], *, axis: str, at: float) -> str:
    """Tick marks and labels along the x axis (at y ``at``) or the y axis (at x ``at``)."""
    out = ""
    for pos, label in ticks:
        if axis == "x":
            out += (f"<line class=\"tick\" x1=\"{pos:.1f}\" x2=\"{pos:.1f}\" y1=\"{at}\" y2=\"{at + 4}\" "
                    f"stroke=\"#333\"/><text x=\"{pos:.1f}\" y=\"{at + 15}\" font-size=\"10\" "
                    f"text-anchor=\"middle\">{html.escape(label)}</text>")
        else:
            out += (f"<line class=\"tick\" x1=\"{at - 4}\" x2=\"{at}\" y1=\"{pos:.1f}\" y2=\"{pos:.1f}\" "
                    f"stroke=\"#333\"/><text x=\"{at - 6}\" y=\"{pos + 3:.1f}\" font-size=\"10\" "
                    f"text-anchor=\"end\">{html.escape(label)}</text>")
    return out


def _svg_pr(lab: dict, w: int = 320, ht: int = 240) -> str:
    curve = lab.get("pr_curve") or {}
    p, r = curve.get("precision") or [], curve.get("recall") or []
    sx = lambda v: 40 + v * (w - 60)
    sy = lambda v: ht - 30 - v * (ht - 50)
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(r, p) if _finite(x) and _finite(y))
    dot = (f"<circle cx=\"{sx(lab['recall']):.1f}\" cy=\"{sy(lab['precision']):.1f}\" r=\"4\" fill=\"#d22\"/>"
           if _finite(lab.get("recall")) and _finite(lab.get("precision")) else "")
    quarters = (0.0, 0.25, 0.5, 0.75, 1.0)
    axes = (f"<line x1=\"40\" x2=\"{w - 20}\" y1=\"{ht - 30}\" y2=\"{ht - 30}\" stroke=\"#333\"/>"
            f"<line x1=\"40\" x2=\"40\" y1=\"20\" y2=\"{ht - 30}\" stroke=\"#333\"/>"
            + _ticks([(sx(q), f"{q:g}") for q in quarters], axis="x", at=ht - 30)
            + _ticks([(sy(q), f"{q:g}") for q in quarters], axis="y", at=40)
            + f"<text x=\"{w / 2:.0f}\" y=\"{ht - 2}\" font-size=\"11\" text-anchor=\"middle\">recall</text>"
            f"<text x=\"2\" y=\"14\" font-size=\"11\">precision</text>")
    return (f"<svg width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"precision-recall curve\">{axes}"
            f"<polyline points=\"{pts}\" fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\"/>{dot}</svg>")


def write_report(report: dict, html_path: str) -> str:
    """Write the HTML and ``<name>.json`` beside it (any filesystem); return the JSON path."""
    from winnow.models import fs

    report = _json_safe(report)  # strict JSON: NaN and infinities become null
    fs.write_text(html_path, render_html(report))
    json_path = html_path.removesuffix(".html") + ".json"
    fs.write_text(json_path, json.dumps(report, indent=1, allow_nan=False) + "\n")
    return json_path
