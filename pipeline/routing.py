"""Routing: thresholds files and the keep/drop decision for a scored document.

A thresholds file (``schemas/thresholds.schema.json``) holds, per language, an ordered
list of rules ``{score, value, reason}``. Which side of ``value`` is bad is not written in
the file: it follows from the role in the model's manifest (DESIGN.md), so a file cannot
silently invert a model:

* ``<lm>_pp`` of a ``clean`` or ``benign`` model: drop when the perplexity is **above** the value;
* ``<lm>_pp`` of a ``harmful`` model: drop when it is **below** the value;
* ``<kind>_log_ratio`` (log PP_harmful - log PP_benign, or PP_clean without a benign model):
  drop when **below**;
* ``<kind>_contrast`` (log PP_clean - log PP_corpus), ``kenlm_harmful_share`` and
  ``classifier_prob``: drop when **above**.

Decision order: unreadable text reasons from the reader (``not_html``, ``http_404``),
``empty``, ``no_model_for_lang``, ``too_short``, then the rules in file order; the first
that fires gives the drop reason. Everything else is kept.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from winnow.schemas import SchemaError, validate
from winnow.models.errors import UsageError
from winnow.models.perplexity import LOG10, scale_of, to_scale

KEEP, DROP, SCORED = "keep", "drop", "scored"
ABOVE, BELOW = "above", "below"
ANY_LANG = "*"
UNDETERMINED = "und"


# A letter, digit or printable ASCII character survives normalization as a visible
# character (the normalizer lowercases, maps digits and punctuation, strips marks, and
# removes control and invisible format characters, none of which these are).
_SURVIVES_RE = re.compile(r"[^\W_]|[!-~]")


def has_content(text: str | None) -> bool:
    """Whether anything but whitespace is left of ``text`` once normalized (``empty`` is
    decided on this): a text of NULs, other control characters, zero-width or bidi
    characters, lone combining marks and whitespace has nothing to identify or score."""
    if not text or text.isspace():
        return False
    if _SURVIVES_RE.search(text):
        return True  # nearly every real text, found at its first word
    from winnow.models.normalize import normalize_lines

    return any(not line.isspace() for line in normalize_lines(text))


class ThresholdsError(UsageError):
    """The thresholds file is invalid or does not fit the model sets; says what to fix."""


@dataclass(frozen=True)
class Verdict:
    """What one rule says of one document: whether it drops it, the kind of model whose
    score decided, the rule's name (its score, or "combined") and the value it compared."""

    drops: bool
    decided_by: str
    rule: str
    value: float | None
    consulted: str | None = None  # what a keep reports as deciding, when not KenLM (neural, combined)


class Rule:
    """One rule of a language, in the order of the thresholds file. Three kinds share this
    interface: :class:`ThresholdRule`, :class:`CascadeRule` and :class:`CombinedRule`."""

    reason: str

    def judge(self, scores: dict, n_tokens: int | None) -> Verdict:
        """This rule's verdict on a document's scores."""
        raise NotImplementedError

    def second_opinion(self, scores: dict) -> str | None:
        """The neural score this rule defers to for these (KenLM) scores, if they fall in its
        uncertain band; None when the first-pass scores decide."""
        return None

    def drops_for_certain(self, scores: dict) -> bool:
        """True when the first-pass scores drop the document whatever a neural LM says."""
        return False

    def reads(self, *, second_opinions: bool = False) -> list[str]:
        """The score columns this rule reads first hand (and its cascade's neural score with
        ``second_opinions``)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for people: what drops a document, and why."""
        raise NotImplementedError


@dataclass(frozen=True)
class ThresholdRule(Rule):
    """Drop when ``score`` lies beyond ``value`` on the ``direction`` side."""

    score: str
    value: float
    reason: str
    direction: str  # ABOVE or BELOW: which side drops

    def fires(self, score: float | None) -> bool:
        return _beyond(score, self.value, self.direction)

    def judge(self, scores: dict, n_tokens: int | None) -> Verdict:
        v = scores.get(self.score)
        return Verdict(self.fires(v), score_kind(self.score) or "kenlm", self.score, v)

    def drops_for_certain(self, scores: dict) -> bool:
        return self.fires(scores.get(self.score))

    def reads(self, *, second_opinions: bool = False) -> list[str]:
        return [self.score]

    def describe(self) -> str:
        return f"drop as {self.reason} when {self.score} {'>' if self.direction == ABOVE else '<'} {self.value:.6g}"


@dataclass(frozen=True)
class CascadeRule(ThresholdRule):
    """A threshold rule whose uncertain documents (``score`` inside ``band``) are decided by
    ``cascade_score`` (a neural score) against ``cascade_value`` instead."""

    cascade_score: str = ""
    cascade_value: float = 0.0
    cascade_direction: str = ABOVE
    band: tuple[float, float] = (0.0, 0.0)

    def uncertain(self, scores: dict) -> bool:
        v = scores.get(self.score)
        return v is not None and not math.isnan(v) and self.band[0] <= v <= self.band[1]

    def judge(self, scores: dict, n_tokens: int | None) -> Verdict:
        if self.uncertain(scores) and scores.get(self.cascade_score) is not None:
            v = scores[self.cascade_score]
            return Verdict(_beyond(v, self.cascade_value, self.cascade_direction), "neural", self.cascade_score, v,
                           consulted="neural")
        return super().judge(scores, n_tokens)

    def second_opinion(self, scores: dict) -> str | None:
        return self.cascade_score if self.uncertain(scores) else None

    def reads(self, *, second_opinions: bool = False) -> list[str]:
        return [self.score, self.cascade_score] if second_opinions else [self.score]

    def drops_for_certain(self, scores: dict) -> bool:
        return not self.uncertain(scores) and self.fires(scores.get(self.score))

    def describe(self) -> str:
        side = ">" if self.cascade_direction == ABOVE else "<"
        return (f"{super().describe()}; for {self.score} in [{self.band[0]:.6g}, {self.band[1]:.6g}], when "
                f"{self.cascade_score} {side} {self.cascade_value:.6g}")


@dataclass(frozen=True)
class CombinedRule(Rule):
    """Drop when the logistic model over several scores (``model``: features, mean, std,
    coef, intercept) gives a probability above ``value``."""

    value: float
    reason: str
    model: dict

    score = "combined"

    def judge(self, scores: dict, n_tokens: int | None) -> Verdict:
        p = combined_probability(self.model, scores, n_tokens)
        return Verdict(_beyond(p, self.value, ABOVE), "combined", "combined", p, consulted="combined")

    def reads(self, *, second_opinions: bool = False) -> list[str]:
        return list(self.model["features"])

    def describe(self) -> str:
        return f"drop as {self.reason} when P(combined: {', '.join(self.model['features'])}) > {self.value:.3g}"


def combined_scale(feature: str, value) -> float:
    """The scale a combined rule reads a feature on, the same when it is fitted (tuning) and
    applied (here): log10 of a perplexity or a token count, the logit of a probability
    (``classifier_prob``, clipped to [1e-6, 1 - 1e-6]), else the score as is. NaN for a
    missing value, or for a perplexity or count <= 0 (an empty document)."""
    if value is None:
        return math.nan
    v = float(value)
    if math.isnan(v):
        return v
    if scale_of(feature) == LOG10:
        return to_scale(feature, v)
    if feature == "classifier_prob":
        p = min(max(v, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))
    return v


def combined_probability(model: dict, scores: dict, n_tokens) -> float:
    """The logistic model of a combined rule on one document's scores."""
    z = model["intercept"]
    for f, mean, std, coef in zip(model["features"], model["mean"], model["std"], model["coef"]):
        x = combined_scale(f, n_tokens if f == "n_tokens" else scores.get(f))
        if not math.isnan(x):
            z += coef * (x - mean) / std  # a missing feature sits at its mean (adds 0)
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def _beyond(score: float | None, value: float, direction: str) -> bool:
    if score is None or math.isnan(score):
        return False
    return score > value if direction == ABOVE else score < value


@dataclass(frozen=True)
class LanguageRules:
    rules: tuple[Rule, ...]
    min_tokens: int = 0


@dataclass
class Thresholds:
    version: str
    languages: dict[str, LanguageRules] = field(default_factory=dict)

    def for_lang(self, lang: str) -> LanguageRules | None:
        return self.languages.get(lang) or self.languages.get(ANY_LANG)


def score_directions(model_set) -> dict[str, str]:
    """Score column -> the side that is bad, from the model set's manifests."""
    manifests = [lm.manifest for lm in model_set.lms.values()]
    return _directions(manifests + ([model_set.classifier.manifest] if model_set.classifier else []))


def _directions(manifests) -> dict[str, str]:
    from winnow.models.classifier import CLASSIFIER_COLUMN
    from winnow.models.modelset import CLASSIFIER
    from winnow.models.scorer import column

    out = {}
    roles_by_kind: dict[str, set] = {}
    for m in manifests:
        if m["role"] == CLASSIFIER:
            out[CLASSIFIER_COLUMN] = ABOVE  # the probability of the label to drop
            continue
        # High PP under a clean, benign or corpus LM: unlike the reference text; low PP
        # under a harmful LM: like the harmful text.
        out[f"{column(m['name'])}_pp"] = BELOW if m["role"] == "harmful" else ABOVE
        roles_by_kind.setdefault(m["kind"], set()).add(m["role"])
    for kind, roles in roles_by_kind.items():
        if "harmful" in roles and roles & {"clean", "benign"}:
            out[f"{kind}_log_ratio"] = BELOW
            if kind == "kenlm":
                out["kenlm_harmful_share"] = ABOVE
        if {"clean", "corpus"} <= roles:
            out[f"{kind}_contrast"] = ABOVE
    return out


def score_reasons(manifests) -> dict[str, str]:
    """Score column -> the drop reason its rule gives, where a manifest says it: a
    classifier's label meaning (``harmful``, ``low_quality``)."""
    from winnow.models.classifier import CLASSIFIER_COLUMN
    from winnow.models.modelset import CLASSIFIER

    return {CLASSIFIER_COLUMN: m["params"]["label_meaning"] for m in manifests if m["role"] == CLASSIFIER}


def manifest_directions(root: str | Path) -> dict[str, dict[str, str]]:
    """Language -> score directions, from the LM manifests under a models root.

    For steps that route already-scored data (``winnow route``, ``winnow tune``): they need
    the models' roles, not the models themselves, so nothing is loaded or hashed.
    """
    return {lang: _directions(manifests) for lang, manifests in _scoring_manifests(root).items()}


def manifest_reasons(root: str | Path) -> dict[str, dict[str, str]]:
    """Language -> :func:`score_reasons` of its model set, from the manifests."""
    return {lang: score_reasons(manifests) for lang, manifests in _scoring_manifests(root).items()}


def manifest_models(root: str | Path) -> dict[str, dict[str, str]]:
    """Language -> scoring model (LM or classifier) name -> the sha256 of its model file, from
    the manifests (``winnow tune`` records it, so that a run can tell when the models changed since)."""
    return {lang: {m["name"]: next(iter(m["files"].values()))["sha256"] for m in manifests}
            for lang, manifests in _scoring_manifests(root).items()}


def model_files(root: str | Path) -> dict[str, dict[str, str]]:
    """Language -> every file of its model set (tokenizer and LMs, as NAME/FILE) -> sha256,
    from the manifests: what a document's scores depend on (an output's identity)."""
    return {lang: {f"{m['name']}/{name}": entry["sha256"] for m in manifests for name, entry in m["files"].items()}
            for lang, manifests in _manifests(root).items()}


def _scoring_manifests(root: str | Path) -> dict[str, list[dict]]:
    """Language -> the manifests of its models that give scores: the LMs and the classifier."""
    from winnow.models.modelset import CLASSIFIER, LM_KINDS

    return {lang: [m for m in manifests if m["kind"] in LM_KINDS or m["role"] == CLASSIFIER]
            for lang, manifests in _manifests(root).items()}


def _manifests(root: str | Path) -> dict[str, list[dict]]:
    """Language -> every manifest of its model set (a remote root: only its manifests are fetched)."""
    from winnow.models.manifest import MANIFEST_SUFFIX, read_manifest
    from winnow.models.modelset import available_languages

    from winnow.models import fs

    root = fs.local_copy(root, only=(MANIFEST_SUFFIX,))
    out = {lang: [read_manifest(p, verify=False) for p in sorted(Path(root, lang).glob(f"*{MANIFEST_SUFFIX}"))]
           for lang in available_languages(root)}
    if not out:
        raise ThresholdsError(f"{root}: holds no model sets (expected ROOT/<lang>/sentencepiece.manifest.json)")
    return out


def load_thresholds(path: str | Path, model_sets: dict) -> Thresholds:
    """Read, validate and bind a thresholds file to the loaded model sets.

    Fails (ThresholdsError) when the file is not valid JSON or not of the schema, when a
    rule names a score that the language's models cannot produce, or when a language
    with a model set has no rules and there is no ``*`` entry.
    """
    return load_thresholds_dict(read_thresholds_file(path), model_sets, source=str(path))


def read_thresholds_file(path: str | Path) -> dict:
    from winnow.models import fs

    path = str(path)
    try:
        raw = json.loads(fs.read_text(path))
    except FileNotFoundError:
        raise ThresholdsError(f"{path}: thresholds file not found") from None
    except ValueError as exc:
        raise ThresholdsError(f"{path}: not valid JSON ({exc})") from None
    check_finite(raw, source=path)
    return raw


# Parts of a rule that only inform (``winnow tune`` writes its measurements there, and
# they may hold NaN); every other number in a rule is read by the Router.
_INFORMATIONAL = ("diagnostics", "params")


def check_finite(raw, *, source: str = "thresholds") -> None:
    """Refuse NaN, Infinity and -Infinity (Python's json reads them) in every value of a
    rule that the Router reads: ``value``, a cascade's value and band, a combined rule's
    means, scales, intercept and coefficients, and anything else nested in the rule but
    its ``diagnostics`` and ``params``. A NaN cut never fires and an infinite one always
    or never does, silently; so a file holding one is refused, naming the field."""
    languages = raw.get("languages") if isinstance(raw, dict) else None
    if not isinstance(languages, dict):
        return  # not a thresholds file at all: the schema check says so
    problems = []
    for lang, spec in languages.items():
        rules = spec.get("rules") if isinstance(spec, dict) else None
        for i, rule in enumerate(rules if isinstance(rules, list) else ()):
            if not isinstance(rule, dict):
                continue
            name = rule.get("score") if isinstance(rule.get("score"), str) else str(i)
            for where, v in _numbers({k: v for k, v in rule.items() if k not in _INFORMATIONAL}):
                why = _not_finite(v)
                if why:
                    problems.append(f"{lang} rule {name}: {where} is {why}")
        why = _not_finite(spec.get("min_tokens")) if isinstance(spec, dict) else None
        if why:
            problems.append(f"{lang}: min_tokens is {why}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ThresholdsError(f"{source}: {problems[0]}; thresholds must be finite numbers{more}")


def _numbers(obj, where: str = ""):
    """(field, number) for every number in ``obj``: ``value``, ``cascade.band[0]``, ..."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{where}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield where, obj


def _not_finite(v) -> str | None:
    """Why ``v`` is not a usable finite number (None when it is one, or not a number)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer literal beyond a float's range
        return "too large for a number"
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return None


def load_thresholds_dict(raw: dict, model_sets: dict, *, source: str = "thresholds") -> Thresholds:
    """:func:`load_thresholds` on an already-parsed file (``source`` names it in errors).

    ``model_sets`` maps each language to its loaded ModelSet or to its score directions
    (:func:`manifest_directions`).
    """
    path = source
    directions = {lang: v if isinstance(v, dict) else score_directions(v) for lang, v in model_sets.items()}
    check_finite(raw, source=str(path))  # first: the schema takes NaN and infinities for numbers
    try:
        validate(raw, "thresholds", source=str(path))
    except SchemaError as exc:
        raise ThresholdsError(str(exc)) from None

    languages = {}
    problems = []
    for lang, spec in raw["languages"].items():
        if lang != ANY_LANG and lang not in model_sets:
            problems.append(f"{lang}: rules for a language with no model set (have: {', '.join(sorted(model_sets))})")
            continue
        langs = sorted(directions) if lang == ANY_LANG else [lang]
        rules = []
        for i, r in enumerate(spec["rules"]):
            if r["score"] == "combined":
                spec_c = r.get("combined") or {}
                missing = [f for la in langs for f in spec_c.get("features", [])
                           if f != "n_tokens" and f not in directions[la]]
                if not spec_c.get("features") or missing:
                    problems.append(f"{lang}: rule {i} combines {sorted(set(missing)) or 'no features'}, which "
                                    f"the models do not produce")
                    continue
                lengths = {k: len(spec_c[k]) for k in ("features", "mean", "std", "coef")}
                if len(set(lengths.values())) != 1:  # zip() would silently drop features
                    problems.append(f"{lang}: rule {i} (combined) needs one mean, std and coef per feature, "
                                    f"has " + ", ".join(f"{n} {k}" for k, n in lengths.items()))
                    continue
                rules.append(CombinedRule(float(r["value"]), r["reason"], spec_c))
                continue
            sides = {directions[la][r["score"]] for la in langs if r["score"] in directions[la]}
            missing = [la for la in langs if r["score"] not in directions[la]]
            if missing:
                problems.append(f"{lang}: rule {i} uses {r['score']!r}, which the models of "
                                f"{', '.join(missing)} do not produce (they give: "
                                f"{', '.join(sorted(directions[missing[0]]))})")
                continue
            if len(sides) != 1:
                problems.append(f"{lang}: {r['score']!r} means opposite things in different model sets")
                continue
            cascade = r.get("cascade")
            if cascade and not (r["score"].startswith("kenlm_") and cascade["score"].startswith("neural_")):
                problems.append(f"{lang}: rule {i} cascades from {r['score']!r} to {cascade['score']!r}; a cascade "
                                f"goes from a KenLM score to a neural one")
                continue
            if cascade:
                c_sides = {directions[la].get(cascade["score"]) for la in langs}
                if None in c_sides or len(c_sides) != 1:
                    problems.append(f"{lang}: rule {i} cascades to {cascade['score']!r}, which the models of "
                                    f"{lang} do not produce (train one with `winnow train neural`)")
                    continue
                rules.append(CascadeRule(r["score"], float(r["value"]), r["reason"], sides.pop(), cascade["score"],
                                         float(cascade["value"]), c_sides.pop(),
                                         (float(cascade["band"][0]), float(cascade["band"][1]))))
            else:
                rules.append(ThresholdRule(r["score"], float(r["value"]), r["reason"], sides.pop()))
        languages[lang] = LanguageRules(tuple(rules), int(spec.get("min_tokens", 0)))
    problems += _models_changed(raw.get("models"), languages, model_sets)
    uncovered = sorted(set(model_sets) - set(languages)) if ANY_LANG not in languages else []
    if uncovered:
        problems.append(f"no rules for {', '.join(uncovered)}, which have model sets: add them, or a '*' "
                        f"entry for every other language")
    if problems:
        raise ThresholdsError(f"{path}: thresholds do not fit the models:\n" + "\n".join(f"  - {p}" for p in problems))
    return Thresholds(raw["version"], languages)


def _models_changed(tuned_on: dict | None, languages: dict, model_sets: dict) -> list[str]:
    """Rules whose scores now come from other models than ``winnow tune`` saw (a retrained
    LM, or a benign LM that became the log-ratio's reference): their cuts no longer mean
    what was measured. Checked against loaded model sets only."""
    from winnow.models.scorer import column, contrast_pairs, ratio_pairs

    problems = []
    for lang, ms in model_sets.items():
        rules = languages.get(lang) or languages.get(ANY_LANG)
        if not tuned_on or lang not in tuned_on or isinstance(ms, dict) or rules is None:
            continue
        pairs, contrasts = ratio_pairs(ms), contrast_pairs(ms)
        needed = set()
        for r in rules.rules:
            for score in r.reads(second_opinions=True):
                kind = (score or "").split("_", 1)[0]
                if score and (score.endswith("_log_ratio") or score == "kenlm_harmful_share"):
                    needed |= set(pairs.get(kind, ()))
                elif score and score.endswith("_contrast"):
                    needed |= set(contrasts.get(kind, ()))
                elif score == "classifier_prob" and ms.classifier is not None:
                    needed.add(ms.classifier.name)
                elif score:
                    needed |= {name for name in ms.lms if score.startswith(column(name) + "_")}
        hashes = dict(ms.hashes())
        changed = sorted(name for name in needed if tuned_on[lang].get(name) != hashes[name])
        if changed:
            problems.append(f"{lang}: the thresholds were tuned on scores of other models than "
                            f"{', '.join(changed)} (new or retrained since): score a sample with these models "
                            f"and tune again (winnow sample / winnow tune)")
    return problems


@dataclass(frozen=True)
class Decision:
    route: str
    reason: str | None
    decided_by: str | None = None  # "kenlm", or "neural" when a cascade decided
    # The rule that decided (its score, or "combined") and the value it compared with its cut
    # (the score, the neural score of a cascade, the combined probability). A drop: the rule
    # that fired; a keep: the language's first rule (the combined one, when there is one).
    rule: str | None = None
    value: float | None = None


class Router:
    """Decides keep/drop for a document from its language, token count and scores."""

    def __init__(self, thresholds: Thresholds | None, languages_with_models, *, keep_unscored: bool = False):
        self.thresholds = thresholds
        self.langs = set(languages_with_models)
        self.keep_unscored = keep_unscored

    @property
    def score_only(self) -> bool:
        return self.thresholds is None

    def decide(self, *, skip: str | None, lang: str, n_lines: int, n_tokens: int | None,
               scores: dict) -> Decision:
        if self.score_only:
            return Decision(SCORED, skip)
        if skip:
            return Decision(DROP, skip)
        if n_lines == 0:
            return Decision(DROP, "empty")
        if lang not in self.langs:
            return Decision(KEEP if self.keep_unscored else DROP, "no_model_for_lang")
        rules = self.thresholds.for_lang(lang)
        if n_tokens is not None and n_tokens < rules.min_tokens:
            return Decision(DROP, "too_short")
        # A drop is decided by the rule that fires; a keep by the last kind of scorer
        # consulted (neural when a cascade re-decided any rule), with the first rule's value.
        by = "kenlm"
        first = None  # the first rule's verdict: what a keep reports
        for rule in rules.rules:
            verdict = rule.judge(scores, n_tokens)
            if verdict.drops:
                return Decision(DROP, rule.reason, verdict.decided_by, verdict.rule, verdict.value)
            by = verdict.consulted or by
            first = first or verdict
        return Decision(KEEP, None, by, first.rule if first else None, first.value if first else None)

    def cascade_scores(self, lang: str, scores: dict) -> set[str]:
        """The neural scores that could change a document's decision: those of the rules
        whose uncertain band its KenLM scores fall in, up to the first rule that drops it
        for certain (in :meth:`decide`'s order; empty: KenLM decides alone)."""
        if self.score_only or lang not in self.langs:
            return set()
        rules = self.thresholds.for_lang(lang)
        n_tokens = scores.get("n_tokens")
        if rules is None or (n_tokens is not None and n_tokens < rules.min_tokens):
            return set()  # dropped as too_short whatever the scores
        out = set()
        for rule in rules.rules:
            need = rule.second_opinion(scores)
            if need:
                out.add(need)
            elif rule.drops_for_certain(scores):
                break  # dropped by KenLM whatever the neural LM says about later rules
        return out

    def cascades(self, lang: str) -> bool:
        """Whether a rule of ``lang`` hands uncertain documents to a neural score."""
        rules = None if self.score_only else self.thresholds.for_lang(lang)
        return rules is not None and any(isinstance(r, CascadeRule) for r in rules.rules)

    def lm_kinds(self, lang: str) -> set[str] | None:
        """The kinds of model (kenlm, neural, classifier) whose scores the rules of ``lang`` read first hand,
        a cascade's second opinion aside; None without thresholds (a score-only run scores
        with every model)."""
        if self.score_only:
            return None
        rules = self.thresholds.for_lang(lang)
        kinds = set()
        for r in rules.rules if rules else ():
            for name in r.reads():
                if score_kind(name):
                    kinds.add(score_kind(name))
        return kinds


SCORE_KINDS = ("kenlm", "neural", "classifier")


def score_kind(score: str) -> str | None:
    """The kind of model a score column comes from (its prefix: kenlm, neural, classifier),
    or None (n_tokens)."""
    kind = score.split("_", 1)[0]
    return kind if kind in SCORE_KINDS else None
