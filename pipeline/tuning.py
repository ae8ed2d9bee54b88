"""Learning thresholds from scored documents (no Beam). The statistics come from
scikit-learn (logistic regression, ROC and PR curves, log-loss) and SciPy
(moments), the ``tune`` extra; the two-component mixture's EM stays Winnow's own (see
:func:`fit_mixture`: the library's is 13-34x slower). What is Winnow's is which method
places a cut and why.

Methods, per language and score (log10 of perplexities, the log-ratio as is):

* ``percentile``: CCNet-style cut points: keep the best ``keep_percent`` of a quality
  score (clean PP), drop the worst ``harmful_percent`` of a harmful score.
* ``mixture``: a two-component Gaussian mixture ("Perplexed by Quality"), cut where the
  posterior of the bad component is 0.5, **only if the data is bimodal**: bimodality
  coefficient > 0.555, BIC prefers two components by > 10, and Ashman's D > 2. Otherwise
  the verdict says so and the cut falls back to percentiles (our measurements found no
  bimodal score distribution on real data).
* ``labels``: with labels (1 = bad), the cut meeting a target precision or recall, or
  maximizing F-beta; bootstrap confidence intervals for precision, recall and drop rate;
  the expected precision at the corpus's own prevalence (Rogan-Gladen estimate from the
  drop rate over all scored documents, or given).

Directions (which side is bad) come from the model manifests (``routing``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .routing import ABOVE
from winnow.models.errors import UsageError
from winnow.models.perplexity import from_scale, to_scale

BC_BIMODAL = 0.555
MIN_DOCS = 20



def is_quality(score: str) -> bool:
    """A clean or corpus LM's perplexity and the contrast between them measure quality;
    every other score (harmful or benign PP, log-ratios, the harmful share) measures
    harmfulness, a classifier what its labels meant (:func:`routing.score_reasons`)."""
    return score.endswith(("_clean_pp", "_corpus_pp", "_contrast"))


def reason_for(score: str) -> str:
    return "low_quality" if is_quality(score) else "harmful"


def require_statistics() -> None:
    """Fail in one line when the ``tune`` extra (scikit-learn, SciPy) is missing."""
    try:
        import scipy.stats  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"winnow tune and report need scikit-learn and SciPy ({exc.name} is missing): "
                         f"pip install 'winnow[tune]'") from None


# --- distribution diagnostics ---------------------------------------------------------------

def bimodality_coefficient(x: np.ndarray) -> float:
    """Sarle's bimodality coefficient with sample-size corrected skewness and kurtosis."""
    from scipy.stats import kurtosis, skew

    n = len(x)
    if n < 4 or np.std(x) == 0:
        return float("nan")
    with warnings.catch_warnings():  # nearly identical values: SciPy warns of precision loss
        warnings.simplefilter("ignore", RuntimeWarning)
        g1, g2 = skew(x, bias=False), kurtosis(x, fisher=True, bias=False)
    return float((g1 ** 2 + 1) / (g2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


@dataclass
class MixtureFit:
    weights: tuple[float, float]
    means: tuple[float, float]
    sds: tuple[float, float]
    loglik: float
    bic2: float
    bic1: float
    ashman_d: float
    bc: float
    converged: bool

    @property
    def bimodal(self) -> bool:
        return (self.bc > BC_BIMODAL and self.bic2 < self.bic1 - 10 and self.ashman_d > 2
                and min(self.weights) > 0.05)

    def verdict(self) -> str:
        if self.bimodal:
            return (f"bimodal: two components (weights {self.weights[0]:.2f}/{self.weights[1]:.2f}) separated by "
                    f"Ashman's D = {self.ashman_d:.2f}; bimodality coefficient {self.bc:.3f}; BIC favours two "
                    f"components by {self.bic1 - self.bic2:.0f}")
        why = []
        if not self.bc > BC_BIMODAL:
            why.append(f"bimodality coefficient {self.bc:.3f} <= {BC_BIMODAL}")
        if not self.bic2 < self.bic1 - 10:
            why.append(f"BIC does not favour two components (BIC1 - BIC2 = {self.bic1 - self.bic2:.1f})")
        if not self.ashman_d > 2:
            why.append(f"components overlap (Ashman's D = {self.ashman_d:.2f} <= 2)")
        if min(self.weights) <= 0.05:
            why.append(f"one component holds only {min(self.weights):.1%} of the data")
        return "not bimodal: " + "; ".join(why) + ". A mixture cut here would split one bulk arbitrarily."

    def as_dict(self) -> dict:
        return {"weights": list(self.weights), "means": list(self.means), "sds": list(self.sds),
                "bic_1": self.bic1, "bic_2": self.bic2, "ashman_d": self.ashman_d,
                "bimodality_coefficient": self.bc, "converged": self.converged, "bimodal": self.bimodal,
                "verdict": self.verdict()}


def _normal_logpdf(x, mu, sd):
    return -0.5 * np.log(2 * np.pi * sd ** 2) - (x - mu) ** 2 / (2 * sd ** 2)


def fit_mixture(x: np.ndarray, *, iters: int = 300, tol: float = 1e-8) -> MixtureFit:
    """EM for a two-component 1-D Gaussian mixture, initialized at the quartiles.

    Winnow's own rather than scikit-learn's GaussianMixture: on 50,000 values the library
    took 13-34 times as long (``bench/statistics_speed.py``; 8.2 s against 0.24 s on
    unimodal data, where EM runs to its iteration cap), and the report fits every score of
    every language at the end of each run."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    sd_all = max(float(x.std()), 1e-6)
    ll1 = float(_normal_logpdf(x, x.mean(), sd_all).sum())
    bic1 = -2 * ll1 + 2 * math.log(n)
    w = np.array([0.5, 0.5])
    mu = np.quantile(x, [0.25, 0.75]).astype(float)
    if mu[0] == mu[1]:
        mu = mu + np.array([-0.5, 0.5]) * sd_all
    sd = np.array([sd_all, sd_all]) / 2
    floor = sd_all * 1e-3
    prev = -np.inf
    converged = False
    ll = prev
    for _ in range(iters):
        logp = np.stack([np.log(w[k]) + _normal_logpdf(x, mu[k], sd[k]) for k in range(2)])
        top = logp.max(axis=0)
        total = top + np.log(np.exp(logp - top).sum(axis=0))
        ll = float(total.sum())
        resp = np.exp(logp - total)
        nk = resp.sum(axis=1) + 1e-12
        w = nk / n
        mu = (resp * x).sum(axis=1) / nk
        sd = np.maximum(np.sqrt((resp * (x - mu[:, None]) ** 2).sum(axis=1) / nk), floor)
        if abs(ll - prev) < tol * max(1.0, abs(ll)):
            converged = True
            break
        prev = ll
    order = np.argsort(mu)
    w, mu, sd = w[order], mu[order], sd[order]
    bic2 = -2 * ll + 5 * math.log(n)
    d = float(math.sqrt(2) * abs(mu[1] - mu[0]) / math.sqrt(sd[0] ** 2 + sd[1] ** 2))
    return MixtureFit((float(w[0]), float(w[1])), (float(mu[0]), float(mu[1])), (float(sd[0]), float(sd[1])),
                      ll, float(bic2), float(bic1), d, bimodality_coefficient(x), converged)


def mixture_cut(fit: MixtureFit) -> float:
    """Where the two weighted components are equally likely, between their means."""
    (w1, w2), (m1, m2), (s1, s2) = fit.weights, fit.means, fit.sds
    # w1 N(x; m1, s1) = w2 N(x; m2, s2)  <=>  a x^2 + b x + c = 0
    a = 1 / (2 * s2 ** 2) - 1 / (2 * s1 ** 2)
    b = m1 / s1 ** 2 - m2 / s2 ** 2
    c = (m2 ** 2 / (2 * s2 ** 2) - m1 ** 2 / (2 * s1 ** 2)
         + math.log((w1 * s2) / (w2 * s1)))
    if abs(a) < 1e-12:
        roots = [-c / b]
    else:
        disc = b * b - 4 * a * c
        if disc < 0:
            return (m1 + m2) / 2
        roots = [(-b + math.sqrt(disc)) / (2 * a), (-b - math.sqrt(disc)) / (2 * a)]
    between = [r for r in roots if m1 <= r <= m2]
    return float(between[0] if between else (m1 + m2) / 2)


# --- percentiles ------------------------------------------------------------------------------

def percentile_cut(x: np.ndarray, direction: str, drop_fraction: float) -> float:
    """The value beyond which the worst ``drop_fraction`` of the documents lie."""
    q = 1 - drop_fraction if direction == ABOVE else drop_fraction
    return float(np.quantile(x, q))


def drops(x: np.ndarray, direction: str, cut: float) -> np.ndarray:
    return x > cut if direction == ABOVE else x < cut


# --- labels -----------------------------------------------------------------------------------

def roc_auc(bad_score: np.ndarray, y: np.ndarray) -> float:
    """P(score of a bad document > score of a good one), ties counted half; NaN with one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, bad_score))


def pr_curve(bad_score: np.ndarray, y: np.ndarray) -> dict:
    """Precision and recall when dropping everything with bad_score >= each distinct cut,
    from the highest cut down."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(y, bad_score)
    # scikit-learn: cuts ascending, and a last point (precision 1, recall 0) with no cut
    return {"cut": cuts[::-1], "precision": precision[:-1][::-1], "recall": recall[:-1][::-1]}


def confusion(pred_bad: np.ndarray, y: np.ndarray) -> dict:
    return {"tp": int((pred_bad & (y == 1)).sum()), "fp": int((pred_bad & (y == 0)).sum()),
            "fn": int((~pred_bad & (y == 1)).sum()), "tn": int((~pred_bad & (y == 0)).sum())}


def choose_labelled_cut(bad_score, y, *, target_precision=None, target_recall=None, beta=1.0) -> tuple[float, str]:
    curve = pr_curve(bad_score, y)
    p, r, cuts = curve["precision"], curve["recall"], curve["cut"]
    if target_precision is not None:
        ok = np.where(p >= target_precision)[0]
        if len(ok):
            i = ok[np.argmax(r[ok])]
            return float(cuts[i]), f"highest recall with precision >= {target_precision}"
        i = int(np.argmax(p))
        return float(cuts[i]), f"no cut reaches precision {target_precision}; the most precise one"
    if target_recall is not None:
        ok = np.where(r >= target_recall)[0]
        i = ok[np.argmax(p[ok])]
        return float(cuts[i]), f"highest precision with recall >= {target_recall}"
    f = (1 + beta ** 2) * p * r / np.maximum(beta ** 2 * p + r, 1e-12)
    i = int(np.argmax(f))
    return float(cuts[i]), f"maximum F{beta:g}"


def bootstrap(bad_score, y, cut_bad: float, *, n: int = 200, seed: int = 0) -> dict:
    """95% intervals of precision, recall and drop rate at a fixed cut (on the bad scale)."""
    rng = np.random.default_rng(seed)
    stats = {"precision": [], "recall": [], "drop_rate": []}
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        pred, yy = bad_score[idx] >= cut_bad, y[idx]
        c = confusion(pred, yy)
        if c["tp"] + c["fp"]:
            stats["precision"].append(c["tp"] / (c["tp"] + c["fp"]))
        if c["tp"] + c["fn"]:
            stats["recall"].append(c["tp"] / (c["tp"] + c["fn"]))
        stats["drop_rate"].append(pred.mean())
    return {k: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if v else None for k, v in stats.items()}


def expected_precision(tpr: float, fpr: float, prevalence: float) -> float:
    denom = tpr * prevalence + fpr * (1 - prevalence)
    return float(tpr * prevalence / denom) if denom > 0 else float("nan")


def rogan_gladen(drop_rate: float, tpr: float, fpr: float) -> float | None:
    """Corpus prevalence implied by the drop rate over all documents, given TPR and FPR."""
    if tpr - fpr <= 0.01:
        return None
    return float(min(1.0, max(0.0, (drop_rate - fpr) / (tpr - fpr))))


# --- threshold methods: one class each, listed by the CLI and the report -------------------------

@dataclass(frozen=True)
class MethodContext:
    """What a method may use for one score of one language: the values on the score's scale,
    which side is bad, the mixture fit, the label diagnostics (None without usable labels),
    the share the percentile method drops, and whether labels were given at all."""

    x: np.ndarray
    direction: str
    mixture: "MixtureFit"
    labels: dict | None
    drop_fraction: float
    labels_given: bool


class ThresholdMethod:
    """A way to place a cut. ``fit`` gives (cut on the score's scale, params, verdict), or
    None when the method does not apply to these data (``why_not`` says why, and the next
    method is tried); ``plain_verdict`` and ``diagnostics`` are what the report shows."""

    name: str
    help: str
    supported_by_data: bool  # the cut rests on structure in the data or on labels, not on a chosen share

    def fit(self, c: MethodContext):
        raise NotImplementedError

    def why_not(self, c: MethodContext) -> str:
        return ""

    def plain_verdict(self, d: dict, where: str) -> str:
        return where + str(d.get("verdict") or "")

    def diagnostics(self, d: dict) -> list[tuple[str, object]]:
        return []


class LabelsMethod(ThresholdMethod):
    name, supported_by_data = "labels", True
    help = ("with --labels: the cut meeting --target-precision or --target-recall, else maximizing F-beta; "
            "bootstrap intervals, the expected precision at the corpus's prevalence")

    def fit(self, c):
        if c.labels is None:
            return None
        return c.labels["cut"], {"how": c.labels["how"]}, f"learned from {c.labels['n']} labels ({c.labels['how']})"

    def why_not(self, c):
        return "no usable labels; " if c.labels_given else ""

    def plain_verdict(self, d, where):
        lab = d.get("labels")
        if not isinstance(lab, dict):  # a file without its label diagnostics: nothing supports the cut
            return METHODS["percentile"].plain_verdict(d, where)
        return (where + f"Labels support a cut at {format_number(d['value'])}: precision {format_number(lab.get('precision'), '.2f')}, "
                f"recall {format_number(lab.get('recall'), '.2f')}, ROC-AUC {format_number(lab.get('roc_auc'), '.2f')}. "
                + str(d.get("verdict") or ""))

    def diagnostics(self, d):
        lab = d.get("labels")
        if not isinstance(lab, dict):
            return []
        ci = lab.get("ci95") or {}
        return [("ROC-AUC", lab.get("roc_auc")),
                ("precision (95% CI)", f"{format_number(lab.get('precision'), '.3f')} {ci.get('precision')}"),
                ("recall (95% CI)", f"{format_number(lab.get('recall'), '.3f')} {ci.get('recall')}"),
                ("labelled prevalence", lab.get("labelled_prevalence")),
                ("corpus prevalence", lab.get("corpus_prevalence")),
                ("expected precision at corpus prevalence", lab.get("expected_precision_at_corpus_prevalence"))]


class MixtureMethod(ThresholdMethod):
    name, supported_by_data = "mixture", True
    help = ("a two-component Gaussian mixture, cut at posterior 0.5, only where the data is bimodal "
            f"(bimodality coefficient > {BC_BIMODAL}, BIC prefers two components by > 10, Ashman's D > 2)")

    def fit(self, c):
        if not c.mixture.bimodal:
            return None
        return mixture_cut(c.mixture), {}, "two-component mixture cut (posterior 0.5). " + c.mixture.verdict()

    def why_not(self, c):
        return c.mixture.verdict() + " Falling back to percentiles. "

    def plain_verdict(self, d, where):
        return where + "The data has two clusters and the cut separates them. " + str(d.get("verdict") or "")

    def diagnostics(self, d):
        mix = d.get("mixture") or {}
        bic = (mix["bic_1"] - mix["bic_2"]) if is_finite_number(mix.get("bic_1")) and is_finite_number(mix.get("bic_2")) else None
        return [("bimodality coefficient", mix.get("bimodality_coefficient")), ("Ashman's D", mix.get("ashman_d")),
                ("BIC 1 - BIC 2", bic)]


class PercentileMethod(ThresholdMethod):
    name, supported_by_data = "percentile", False
    help = "CCNet-style: keep the best --keep-percent of a quality score, drop the worst --harmful-percent of a harmful one"

    def fit(self, c):
        side = "highest" if c.direction == ABOVE else "lowest"
        return (percentile_cut(c.x, c.direction, c.drop_fraction), {"drop_fraction": c.drop_fraction},
                f"percentile cut: drops the {side} {c.drop_fraction:.0%}; this rests on a chosen share, not on "
                f"structure in the data")

    def plain_verdict(self, d, where):
        return where + "Nothing in the data supports a particular cut here: " + str(d.get("verdict") or "")


METHODS: dict[str, ThresholdMethod] = {m.name: m for m in (LabelsMethod(), MixtureMethod(), PercentileMethod())}
# --method -> the methods tried in turn; the first that applies places the cut (percentile always does).
METHOD_ORDER = {"auto": ("labels", "mixture", "percentile"), "labels": ("labels", "percentile"),
                "mixture": ("mixture", "percentile"), "percentile": ("percentile",)}


def is_finite_number(v) -> bool:
    """A real, finite number (not None, NaN, an infinity, a bool or a string)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond a float's range
        return False


def format_number(v, spec: str = ".4g") -> str:
    """``v`` formatted with ``spec``, or "n/a" when it is None, NaN or infinite."""
    return format(v, spec) if is_finite_number(v) else "n/a"


# --- one score of one language -----------------------------------------------------------------

@dataclass
class TuneOptions:
    method: str = "auto"            # auto, or a name in METHODS
    keep_percent: float = 60.0      # quality scores: keep the best 60% (CCNet's head + middle)
    harmful_percent: float = 5.0    # harmful scores: drop the most harmful-looking 5%
    target_precision: float | None = None
    target_recall: float | None = None
    beta: float = 1.0
    prevalence: float | None = None
    bootstrap: int = 200
    seed: int = 0
    min_docs: int = MIN_DOCS
    cascade_band: float = 0.02      # share of documents around a KenLM cut that a neural LM re-decides
    combined: bool = True           # with labels: fit a logistic regression over all scores
    quality_combination: bool = True  # without labels: one quality rule on the mean of the quality scores' z-scores
    # Guard rails for rules learned from labels (the unlabelled rows are the corpus sample):
    max_corpus_drop: float = 0.5    # refuse a rule dropping more of the corpus sample than this
    max_prevalence_ratio: float = 2.0  # ... or more than this many times the labelled prevalence (0: no check)
    force: bool = False             # write refused rules anyway (marked as forced)
    label_reason: str | None = None  # what the labels mean (harmful, low_quality): rules learned from them say so
    combined_features: tuple[str, ...] | None = None  # None: every score, without raw length (n_tokens)


def tune_score(score: str, direction: str, values: np.ndarray, opts: TuneOptions,
               labels: np.ndarray | None = None, reason: str | None = None) -> dict:
    """Threshold (in the score's own units), method, parameters and diagnostics; ``reason``:
    the drop reason when the model's manifest says it (else from the score's name)."""
    finite = np.isfinite(to_scale(score, values))  # a perplexity <= 0 has no place on its scale
    x = to_scale(score, values[finite])
    reason = reason or reason_for(score)
    out: dict = {"score": score, "direction": direction, "reason": reason, "n": int(len(x))}
    if len(x) < opts.min_docs:
        out.update(value=None, method="none",
                   verdict=f"too few documents ({len(x)} < {opts.min_docs}): no threshold is supported")
        return out
    out["quantiles"] = {str(q): from_scale(score, float(np.quantile(x, q / 100)))
                        for q in (1, 5, 10, 25, 50, 75, 90, 95, 99)}
    # CCNet's buckets on the same scale: head (best 30%), middle, tail (worst 40%).
    head, tail = (30, 60) if direction == ABOVE else (70, 40)
    out["ccnet_buckets"] = {"head_middle": from_scale(score, float(np.quantile(x, head / 100))),
                            "middle_tail": from_scale(score, float(np.quantile(x, tail / 100)))}
    fit = fit_mixture(x)
    out["mixture"] = fit.as_dict()
    drop_fraction = (1 - opts.keep_percent / 100) if reason == "low_quality" else opts.harmful_percent / 100
    y = None
    if labels is not None:
        y = labels[finite]
        known = y >= 0
        if known.sum() >= 10 and 0 < y[known].sum() < known.sum():
            out["labels"] = _label_diagnostics(x[known], y[known].astype(int), direction, opts, x)
    context = MethodContext(x, direction, fit, out.get("labels"), drop_fraction, labels is not None)
    notes = ""
    for name in METHOD_ORDER[opts.method]:
        found = METHODS[name].fit(context)
        if found is not None:
            break
        notes += METHODS[name].why_not(context)
    cut, params, verdict = found
    out.update(method=name, params=params)
    verdict = notes + verdict
    if opts.method not in ("auto", name):
        out["fallback_from"] = opts.method
    out["value"] = from_scale(score, cut)
    out["drop_rate"] = float(drops(x, direction, cut).mean())
    out["verdict"] = verdict
    return out


def _between(bad: np.ndarray, cut_bad: float) -> float:
    """A value strictly between ``cut_bad`` and the next lower score, so that the router's
    strict comparison ("drop when beyond the value") drops exactly the documents >= cut."""
    lower = bad[bad < cut_bad]
    return float((cut_bad + lower.max()) / 2) if len(lower) else float(cut_bad - max(1.0, abs(cut_bad)))


def _label_diagnostics(x, y, direction, opts: TuneOptions, all_x) -> dict:
    bad = x if direction == ABOVE else -x
    cut_bad, how = choose_labelled_cut(bad, y, target_precision=opts.target_precision,
                                       target_recall=opts.target_recall, beta=opts.beta)
    pred = bad >= cut_bad
    cut_bad = _between(bad, cut_bad)
    c = confusion(pred, y)
    tpr = c["tp"] / max(c["tp"] + c["fn"], 1)
    fpr = c["fp"] / max(c["fp"] + c["tn"], 1)
    cut = cut_bad if direction == ABOVE else -cut_bad
    corpus_drop = float(((all_x > cut) if direction == ABOVE else (all_x < cut)).mean())
    prevalence = opts.prevalence if opts.prevalence is not None else rogan_gladen(corpus_drop, tpr, fpr)
    curve = pr_curve(bad, y)
    step = max(1, len(curve["cut"]) // 200)  # keep the report light
    return {
        "n": int(len(y)), "positives": int(y.sum()), "labelled_prevalence": float(y.mean()),
        "roc_auc": roc_auc(bad, y), "cut": float(cut), "how": how,
        "precision": c["tp"] / max(c["tp"] + c["fp"], 1), "recall": tpr, "fpr": fpr,
        "f1": 2 * c["tp"] / max(2 * c["tp"] + c["fp"] + c["fn"], 1), "confusion": c,
        "ci95": bootstrap(bad, y, np.nextafter(cut_bad, np.inf), n=opts.bootstrap, seed=opts.seed),
        "corpus_drop_rate": corpus_drop,
        "corpus_prevalence": prevalence,
        "corpus_prevalence_source": "given" if opts.prevalence is not None else "Rogan-Gladen estimate from the drop rate",
        "expected_precision_at_corpus_prevalence": (expected_precision(tpr, fpr, prevalence)
                                                    if prevalence is not None else None),
        "pr_curve": {"precision": curve["precision"][::step].tolist(), "recall": curve["recall"][::step].tolist()},
    }


# --- a whole scored output ---------------------------------------------------------------------

QUALITY_COMBINED = ("kenlm_clean_pp", "kenlm_contrast", "classifier_prob")  # what the quality combination may use


def _with_quality_combination(rules: list[dict], directions: dict, reasons: dict, cols: dict, mask,
                              opts: "TuneOptions") -> list[dict]:
    """Without labels, two or more quality scores (the clean PP, the contrast, a low-quality
    classifier) make one quality rule: the mean of their z-scores on the corpus, cut to keep
    the best ``keep_percent`` (it replaces the single-score quality rule, in its place)."""
    features = [f for f in QUALITY_COMBINED if f in directions and f in cols
                and (reasons.get(f) or reason_for(f)) == "low_quality"]
    if len(features) < 2:
        return rules
    x = feature_matrix(features, cols, mask)
    whole = np.isfinite(x).all(axis=1)
    if whole.sum() < opts.min_docs:
        return rules
    mean, std = x[whole].mean(axis=0), x[whole].std(axis=0)
    std[~(std > 0)] = 1.0
    sign = np.array([1.0 if directions[f] == ABOVE else -1.0 for f in features])
    model = {"features": features, "mean": mean.tolist(), "std": std.tolist(),
             "coef": (sign / len(features)).tolist(), "intercept": 0.0, "fit": "mean of z-scores, no labels"}
    p = logistic_probability(model, x)
    drop_fraction = 1 - opts.keep_percent / 100
    cut = float(np.quantile(p, 1 - drop_fraction))
    rule = {"score": "combined", "value": cut, "reason": "low_quality", "method": "percentile",
            "params": {"drop_fraction": drop_fraction}, "combined": model,
            "diagnostics": {"n": int(len(p)), "drop_rate": float((p > cut).mean()),
                            "verdict": f"no labels: the mean of the z-scores of {', '.join(features)}, cut to "
                                       f"keep the best {opts.keep_percent:g}%; a chosen share, not structure "
                                       f"in the data"}}
    at = next((i for i, r in enumerate(rules) if r["reason"] == "low_quality"), len(rules))
    return rules[:at] + [rule] + [r for r in rules[at:] if r["reason"] != "low_quality"]


def default_scores(directions: dict[str, str], reasons: dict[str, str]) -> list[str]:
    """The scores that get a rule when the user names none, in rule order: one harmful
    signal (a harmful classifier, else the log-ratio, else the harmful PP: DESIGN.md) and
    one quality signal (a low-quality classifier, else the contrast, else the clean PP), the
    harmful rule first (a harmful document is dropped as harmful, whatever its quality)."""
    harmful = ["kenlm_log_ratio", "kenlm_harmful_pp"]
    quality = ["kenlm_contrast", "kenlm_clean_pp"]
    if "classifier_prob" in directions:
        (quality if reasons.get("classifier_prob") == "low_quality" else harmful).insert(0, "classifier_prob")
    picked = [next((s for s in group if s in directions), None) for group in (harmful, quality)]
    return [s for s in picked if s]


def load_scored(folder: str, *, max_rows: int | None = None, seed: int = 0) -> "pa.Table":  # noqa: F821
    """Document rows of a scored (or routed) output, with ``route`` and ``lang`` from the
    partition folders, from any filesystem.

    With ``max_rows``, shard files are taken in a seeded random order and read a row group
    at a time until that many rows are read, so memory stays bounded by ``max_rows`` (plus
    one row group) whatever the size of the output (a large run's report reads a sample).
    """
    import random

    import pyarrow as pa

    from winnow.schemas.arrow import DOCUMENT_FILE_SCHEMA

    from .shards import document_shards, partitions_of, row_groups

    paths = document_shards(folder)
    if max_rows is not None:
        random.Random(seed).shuffle(paths)
    parts, rows = [], 0
    for path in paths:
        route, lang = partitions_of(path)
        for group in row_groups(path):
            if max_rows is not None and rows >= max_rows:
                break
            t = _with_schema(group, DOCUMENT_FILE_SCHEMA)
            if max_rows is not None:
                t = t.slice(0, max_rows - rows)
            n = t.num_rows
            t = t.append_column("route", pa.array([route] * n, pa.string()))
            parts.append(t.append_column("lang", pa.array([lang] * n, pa.string())))
            rows += n
        if max_rows is not None and rows >= max_rows:
            break
    if not parts:
        raise FileNotFoundError(f"{folder}: no scored documents (expected {folder.rstrip('/')}/route=scored/lang=xx/*.parquet "
                                f"from `winnow run --score-only` or `winnow sample`)")
    return pa.concat_tables(parts)


def _with_schema(table, schema):
    """``table`` cast to ``schema``, columns an older schema version lacks added as nulls
    (outputs written before winnow.document.v5 have no decided_rule / decided_value)."""
    import pyarrow as pa

    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def read_labels(path: str) -> dict[str, int]:
    """doc_id -> label (1 bad, 0 good) from CSV/TSV (id,label; header optional) or JSONL {id, label}."""
    import csv
    import json

    from winnow.models import fs

    labels: dict[str, int] = {}
    with fs.text_stream(path) as f:
        if path.endswith((".jsonl", ".json")):
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        r = json.loads(line)
                        labels[str(r["id"])] = _label(r["label"], path)
                    except (ValueError, KeyError, TypeError) as exc:
                        if isinstance(exc, UsageError):
                            raise
                        raise UsageError(f"{path}, line {number}: expected a JSON object with \"id\" and \"label\" "
                                         f"(1 bad, 0 good) ({type(exc).__name__}: {exc})") from None
            return labels
        dialect = "excel-tab" if path.endswith(".tsv") else "excel"
        for row in csv.reader(f, dialect=dialect):
            if len(row) < 2 or not row[1].strip().lstrip("-").isdigit():
                continue  # header or blank
            labels[row[0]] = _label(row[1], path)
    return labels


def _label(value, path: str) -> int:
    try:
        label = int(value)
    except (TypeError, ValueError):
        label = None
    if label not in (0, 1) or isinstance(value, bool):
        raise UsageError(f"{path}: labels are 1 (bad) or 0 (good), got {value!r}")
    return label


def tune(table, directions: dict[str, dict[str, str]], opts: TuneOptions, *, labels: dict | None = None,
         scores: list[str] | None = None, min_tokens: int = 0, command: str = "winnow tune",
         models: dict[str, dict[str, str]] | None = None, reasons: dict[str, dict[str, str]] | None = None) -> dict:
    """A thresholds file (schemas/thresholds.schema.json) with per-score diagnostics;
    ``reasons``: language -> score -> drop reason, where the manifests say it."""
    import datetime
    import hashlib
    import json

    cols = table.to_pydict()
    langs = np.array(cols["lang"], dtype=object)
    ids = np.array(cols["doc_id"], dtype=object)
    out_langs = {}
    for lang in sorted(directions):
        mask = langs == lang
        rows = int(mask.sum())
        lab = None
        if labels:
            lab = np.array([labels.get(i, -1) for i in ids[mask]], dtype=int)
        diagnostics = {}
        rules = []
        chosen = ([s for s in scores if s in directions[lang]] if scores
                  else default_scores(directions[lang], (reasons or {}).get(lang, {})))
        values_of = {score: np.array([np.nan if v is None else v for v in np.array(cols[score], dtype=object)[mask]],
                                     dtype=float) for score in directions[lang]}
        for score, direction in sorted(directions[lang].items()):
            result = tune_score(score, direction, values_of[score], opts, lab, (reasons or {}).get(lang, {}).get(score))
            diagnostics[score] = result
            if score in chosen and result["value"] is not None:
                rule = {"score": score, "value": result["value"], "reason": result["reason"],
                        "method": result["method"], "params": result.get("params", {}),
                        "diagnostics": {"n": result["n"], "drop_rate": result["drop_rate"],
                                        "verdict": result["verdict"]}}
                neural = "neural_" + score.removeprefix("kenlm_")
                if score.startswith("kenlm_") and neural in directions[lang] and opts.cascade_band > 0:
                    cascade = _cascade(score, values_of[score], result["value"], neural, values_of[neural],
                                       directions[lang][neural], opts, lab)
                    if cascade:
                        rule["cascade"] = cascade
                rules.append(rule)
        rules.sort(key=lambda r: chosen.index(r["score"]))
        for rule in rules:
            if rule["method"] == "labels" and opts.label_reason:
                rule["reason"] = opts.label_reason
        if (lab is None or not (lab >= 0).any()) and opts.quality_combination:
            rules = _with_quality_combination(rules, directions[lang], (reasons or {}).get(lang, {}), cols, mask, opts)
        combined, singles = None, rules
        if lab is not None and opts.combined:
            wanted = opts.combined_features or [f for f in sorted(directions[lang]) if f != "n_tokens"]
            features = [f for f in wanted if f in cols]
            combined = tune_combined(features, cols, mask, lab, opts, reason=opts.label_reason or "harmful")
            if combined:
                # With labels, one calibrated rule replaces the single-score ones (kept as diagnostics).
                rules = [combined]
        guard = None
        if lab is not None and (lab >= 0).any():  # a language with labels: its corpus sample is the rest
            feats = sorted(set(directions[lang]) | {"n_tokens"})
            guard = {"labelled": int((lab >= 0).sum()), "corpus_sample": int((lab < 0).sum()),
                     "labelled_prevalence": float(lab[lab >= 0].mean()) if (lab >= 0).any() else None,
                     "feature_shift": feature_shift(feats, cols, mask, lab)}
            rules, refused = guard_rules(rules, values_of, directions[lang], cols, mask, lab, opts)
            if combined is not None and not rules:
                # The combined rule was refused: fall back to the single-score rules, guarded too.
                rules, more = guard_rules(singles, values_of, directions[lang], cols, mask, lab, opts)
                refused += more
            guard["refused"] = [{"score": r["score"], "why": r["guard"]["refused"]} for r in refused]
        out_langs[lang] = {"min_tokens": min_tokens, "rules": rules,
                           "diagnostics": {"documents": rows, "scores": diagnostics,
                                           **({"guard": guard} if guard else {})}}
    body = {"languages": _json_safe(out_langs)}
    digest = hashlib.sha1(json.dumps(body, sort_keys=True, default=float).encode()).hexdigest()[:10]
    return {"thresholds_version": 1, "version": f"tune-{digest}",
            "created_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "created_by": command, **body,
            **({"models": {lang: models[lang] for lang in out_langs if lang in models}} if models else {})}


DEGENERATE = (0.005, 0.95)  # a cut that drops this little or this much of the corpus sample is flagged


def rule_drops(rule: dict, values_of: dict, directions: dict, cols: dict, mask, rows) -> np.ndarray:
    """Which of ``rows`` (indices into the language's documents) the rule drops."""
    if rule["score"] == "combined":
        x = feature_matrix(rule["combined"]["features"], cols, mask)[rows]
        return logistic_probability(rule["combined"], x) >= rule["value"]
    v = values_of[rule["score"]][rows]
    return np.isfinite(v) & drops(np.where(np.isfinite(v), v, 0.0), directions[rule["score"]], rule["value"])


def guard_rules(rules, values_of, directions, cols, mask, lab, opts: TuneOptions):
    """Each rule's drop rate on the labelled rows and on the corpus sample (the unlabelled
    rows); a rule learned from labels that drops more of the corpus sample than the ceiling
    is refused (kept, marked, with ``force``). Returns (rules kept, rules refused)."""
    labelled, corpus = np.where(lab >= 0)[0], np.where(lab < 0)[0]
    prevalence = float(lab[labelled].mean()) if len(labelled) else None
    kept, refused = [], []
    for rule in rules:
        learned = rule["score"] == "combined" or rule["method"] == "labels"
        g = {"labelled_drop_rate": float(rule_drops(rule, values_of, directions, cols, mask, labelled).mean())
             if len(labelled) else None,
             "corpus_drop_rate": float(rule_drops(rule, values_of, directions, cols, mask, corpus).mean())
             if len(corpus) else None}
        rate = g["corpus_drop_rate"]
        if rate is not None and not DEGENERATE[0] < rate < DEGENERATE[1]:
            g["degenerate"] = f"drops {rate:.1%} of the corpus sample"
        if learned and rate is None:
            g["warning"] = "no corpus sample: pass the unlabelled sample of the corpus to filter as another --scored"
        if learned and rate is not None and rate > opts.max_corpus_drop:
            g["refused"] = (f"learned from labels, it drops {rate:.1%} of the corpus sample (labelled rows: "
                            f"{g['labelled_drop_rate']:.1%}), over the ceiling {opts.max_corpus_drop:.0%} "
                            f"(--max-drop)")
        elif learned and rate is not None and prevalence and opts.max_prevalence_ratio and \
                rate > opts.max_prevalence_ratio * prevalence:
            g["refused"] = (f"learned from labels, it drops {rate:.1%} of the corpus sample, over "
                            f"{opts.max_prevalence_ratio:g}x the labelled prevalence {prevalence:.1%} "
                            f"(--max-prevalence-ratio)")
        rule["guard"] = g
        if g.get("refused") and not opts.force:
            refused.append(rule)
        else:
            if g.get("refused"):
                rule["forced"] = True
            kept.append(rule)
    return kept, refused


def feature_shift(features, cols: dict, mask, lab) -> dict:
    """Per feature: how far the labelled rows lie from the corpus sample (Kolmogorov-Smirnov
    distance, 0 = same distribution, 1 = disjoint; and the medians)."""
    out = {}
    for f in features:
        if f not in cols:
            continue
        v = np.array([np.nan if x is None else x for x in np.array(cols[f], dtype=object)[mask]], dtype=float)
        a, b = v[(lab >= 0) & np.isfinite(v)], v[(lab < 0) & np.isfinite(v)]
        if len(a) < 2 or len(b) < 2:
            continue
        grid = np.unique(np.r_[a, b])
        ks = float(np.max(np.abs(np.searchsorted(np.sort(a), grid, "right") / len(a)
                                 - np.searchsorted(np.sort(b), grid, "right") / len(b))))
        out[f] = {"ks": round(ks, 3), "labelled_median": float(np.median(a)), "corpus_median": float(np.median(b))}
    return out


def _cascade(score, values, cut, neural, neural_values, neural_direction, opts: TuneOptions, labels) -> dict | None:
    """The uncertain band around a KenLM cut (``cascade_band`` of the documents, by rank,
    centred on the cut) and the neural score's own cut, tuned the same way."""
    finite = values[np.isfinite(values)]
    nres = tune_score(neural, neural_direction, neural_values, opts, labels)
    if len(finite) < opts.min_docs or nres["value"] is None:
        return None
    rank = float((finite < cut).mean())
    lo_q, hi_q = max(0.0, rank - opts.cascade_band / 2), min(1.0, rank + opts.cascade_band / 2)
    band = [float(np.quantile(finite, lo_q)), float(np.quantile(finite, hi_q))]
    return {"score": neural, "value": nres["value"], "band": band, "band_share": opts.cascade_band,
            "method": nres["method"]}


def _json_safe(obj):
    """NaN and infinities become null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# --- combined score (labels): logistic regression over the available scores ---------------------

def feature_matrix(features: list[str], cols: dict, mask) -> np.ndarray:
    """Features of the documents in ``mask`` on a combined rule's scale (``routing.combined_scale``)."""
    from .routing import combined_scale

    out = []
    for f in features:
        out.append(np.array([combined_scale(f, v) for v in np.array(cols[f], dtype=object)[mask]], dtype=float))
    return np.column_stack(out) if out else np.zeros((int(np.sum(mask)), 0))


L2_GRID = (0.01, 1.0, 10.0, 100.0)  # ridge strengths tried for the combined score (standardized features)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2) -> dict:
    """L2 logistic regression (scikit-learn's Newton solver) on standardized features (NaN
    -> the mean); the penalty ``l2 / 2 * |coef|^2`` spares the intercept."""
    from sklearn.linear_model import LogisticRegression

    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std[~(std > 0)] = 1.0
    z = np.nan_to_num((x - mean) / std)
    fit = LogisticRegression(C=1 / l2, solver="newton-cholesky", tol=1e-8, max_iter=100).fit(z, y)
    return {"mean": mean.tolist(), "std": std.tolist(), "intercept": float(fit.intercept_[0]),
            "coef": fit.coef_[0].tolist()}


def logistic_probability(model: dict, x: np.ndarray) -> np.ndarray:
    z = np.nan_to_num((x - np.array(model["mean"])) / np.array(model["std"]))
    return 1 / (1 + np.exp(-np.clip(model["intercept"] + z @ np.array(model["coef"]), -30, 30)))


def tune_combined(features: list[str], cols: dict, mask, labels: np.ndarray, opts: TuneOptions,
                  reason: str = "harmful") -> dict | None:
    """A calibrated combination of the scores, fitted on the labelled documents of a language."""
    x = feature_matrix(features, cols, mask)
    known = labels >= 0
    usable = [j for j in range(x.shape[1]) if np.isfinite(x[known, j]).any()]  # e.g. no neural scores
    features, x = [features[j] for j in usable], x[:, usable]
    y = labels[known].astype(float)
    if known.sum() < 20 or y.sum() < 5 or (1 - y).sum() < 5 or x.shape[1] < 2:
        return None
    # The L2 strength, the cut and every diagnostic come from out-of-fold probabilities
    # (5 folds), not from the documents each model was fitted on; the rule itself uses the
    # model fitted on all of them with the chosen strength.
    from sklearn.metrics import log_loss
    from sklearn.model_selection import PredefinedSplit

    xk = x[known]
    fold = np.empty(len(y), dtype=int)  # 5 folds, stratified: every fold sees both classes, whatever their order
    for cls in (0.0, 1.0):
        fold[y == cls] = np.arange(int((y == cls).sum())) % 5
    folds = list(PredefinedSplit(fold).split())
    best = None
    for l2 in L2_GRID:
        oof = np.empty(len(y))
        for train, test in folds:
            oof[test] = logistic_probability(fit_logistic(xk[train], y[train], l2=l2), xk[test])
        loss = float(log_loss(y, np.clip(oof, 1e-9, 1 - 1e-9)))
        if best is None or loss < best[0] - 1e-9:
            best = (loss, l2, oof)
    loss, l2, oof = best
    model = {**fit_logistic(xk, y, l2=l2), "l2": l2, "oof_log_loss": round(loss, 6)}
    prob = logistic_probability(model, x)
    lab = _label_diagnostics(oof, y.astype(int), "above", opts, prob)
    return {"score": "combined", "value": float(lab["cut"]), "reason": reason, "method": "logistic",
            "combined": {"features": features, **model},
            "diagnostics": {"n": int(known.sum()), "drop_rate": float((prob > lab["cut"]).mean()),
                            "verdict": f"logistic regression on {', '.join(features)}; cut {lab['how']} "
                                       f"on 5-fold out-of-fold probabilities",
                            "labels": lab}}
