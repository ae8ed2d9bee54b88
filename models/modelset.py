"""Model sets: every model of one language, loaded from ``ROOT/<lang>/`` and verified.

A models root holds one folder per language. Each folder holds a SentencePiece tokenizer
and one or more language models, each with a ``NAME.manifest.json``. Loading checks every
manifest against its schema, the normalizer version, the file hashes, and that each LM was
trained on pieces of this folder's tokenizer; any mismatch raises
:class:`~winnow.models.errors.WinnowModelError` naming the file.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WinnowModelError
from .manifest import MANIFEST_SUFFIX, model_file, read_manifest
from .kenlm_native import NativeKenLM, load_library
from .tokenizer import TOKENIZER_FILE, TOKENIZER_NAME, UNK_WORD, piece_words

log = logging.getLogger(__name__)

LM_KINDS = ("kenlm", "neural")
CLASSIFIER = "classifier"  # the kind of score a classifier gives, beside the LM kinds


@dataclass
class LanguageModel:
    """A loaded LM with its manifest.

    ``model`` is the backend: a :class:`NativeKenLM` (batch scoring on word indices, with
    ``vocab_map`` taking SentencePiece ids to them) or, when the native library is not
    built, a ``kenlm.Model``.
    """

    name: str
    kind: str
    role: str
    manifest: dict
    model: object
    vocab_map: object = None  # numpy array: SentencePiece id -> KenLM word index

    @property
    def sha256(self) -> str:
        return next(iter(self.manifest["files"].values()))["sha256"]


@dataclass
class ModelSet:
    lang: str
    folder: Path
    tokenizer: object  # sentencepiece.SentencePieceProcessor
    tokenizer_manifest: dict
    lms: dict[str, LanguageModel] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)  # LM word of each SentencePiece id
    classifier: object = None  # a classifier.Classifier (``winnow train classifier``), or None

    @classmethod
    def load(cls, folder: str | Path, *, verify: bool | str = True, native: bool = True) -> "ModelSet":
        """Load the model set in ``folder`` (``ROOT/<lang>``).

        ``native=False`` scores through the kenlm Python module even when the native
        batch scorer is built (slower; for comparison).
        """
        import sentencepiece as spm

        folder = Path(folder)
        if not folder.is_dir():
            raise WinnowModelError(f"{folder}: model folder not found")
        tok_path = folder / f"{TOKENIZER_NAME}{MANIFEST_SUFFIX}"
        if not tok_path.exists():
            raise WinnowModelError(
                f"{folder}: no tokenizer manifest ({tok_path.name}); train one with "
                f"`winnow train tokenizer --lang {folder.name} --models {folder.parent} --input ...`"
            )
        tok_manifest = read_manifest(tok_path, verify=verify)
        if tok_manifest["kind"] != "sentencepiece" or TOKENIZER_FILE not in tok_manifest["files"]:
            raise WinnowModelError(
                f"{tok_path}: not a tokenizer manifest (kind {tok_manifest['kind']!r}, files "
                f"{', '.join(map(repr, tok_manifest['files']))}); it must be of kind 'sentencepiece' and list "
                f"{TOKENIZER_FILE!r}"
            )
        lang = tok_manifest["lang"]
        if lang != folder.name:
            raise WinnowModelError(f"{tok_path}: tokenizer is for {lang!r} but sits in folder {folder.name!r}")
        tokenizer = _load_tokenizer(spm, model_file(tok_path, TOKENIZER_FILE))
        words = piece_words(tokenizer)
        tok_sha = tok_manifest["files"][TOKENIZER_FILE]["sha256"]
        lib = load_library() if native else None

        lms, classifier = {}, None
        for path in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
            if path == tok_path:
                continue
            manifest = read_manifest(path, verify=verify)
            if manifest["role"] == CLASSIFIER:
                classifier = _load_classifier(path, manifest, lang, tok_sha, classifier)
                continue
            if manifest["kind"] not in LM_KINDS:
                log.warning("%s: skipping model of kind %r (not supported by this version)", path, manifest["kind"])
                continue
            if manifest["lang"] != lang:
                raise WinnowModelError(f"{path}: model is for {manifest['lang']!r}, folder is for {lang!r}")
            if manifest["name"] in lms:
                raise WinnowModelError(f"{path}: another manifest in {folder} already names a model "
                                       f"{manifest['name']!r}; model names are unique within a language folder")
            if manifest.get("tokenizer", {}).get("sha256") != tok_sha:
                raise WinnowModelError(
                    f"{path}: model {manifest['name']!r} was trained on pieces of a different "
                    f"tokenizer than {folder / TOKENIZER_FILE}; retrain it with "
                    f"`winnow train kenlm --lang {lang} --role {manifest['role']} ...`"
                )
            if manifest["kind"] == "kenlm" and manifest["params"].get("unk_word") != UNK_WORD:
                raise WinnowModelError(
                    f"{path}: model {manifest['name']!r} maps unknown pieces differently "
                    f"(unk_word {manifest['params'].get('unk_word')!r}, this Winnow uses {UNK_WORD!r}); "
                    f"retrain it with `winnow train kenlm --lang {lang} --role {manifest['role']} ...`"
                )
            names = [f for f in manifest["files"] if not f.endswith(".arpa")]
            if not names:
                raise WinnowModelError(f"{path}: model {manifest['name']!r} lists no model file to load (files: "
                                       f"{', '.join(map(repr, manifest['files']))}; an ARPA file is kept for "
                                       f"reference only)")
            weights = model_file(path, names[0])
            if manifest["kind"] == "neural":
                from .neural import load_neural

                try:
                    backend = load_neural(weights, manifest, tokenizer)
                except (KeyError, TypeError) as exc:  # params without a usable architecture
                    raise WinnowModelError(f"{path}: params of neural model {manifest['name']!r} do not describe "
                                           f"its architecture ({type(exc).__name__}: {exc}); retrain it with "
                                           f"`winnow train neural`") from None
            else:
                backend = _load_kenlm(weights, lib)
            lm = LanguageModel(manifest["name"], manifest["kind"], manifest["role"], manifest, backend)
            if isinstance(lm.model, NativeKenLM):
                lm.vocab_map = lm.model.vocab_map(words)
            lms[manifest["name"]] = lm
        if not lms and classifier is None:
            raise WinnowModelError(
                f"{folder}: no language model; train one with "
                f"`winnow train kenlm --lang {lang} --role clean --models {folder.parent} --input ...`"
            )
        return cls(lang, folder, tokenizer, tok_manifest, lms, words, classifier)

    def only(self, *kinds: str) -> "ModelSet":
        """This model set with only its models of ``kinds`` (kenlm, neural, classifier)."""
        import dataclasses

        return dataclasses.replace(self, lms={n: lm for n, lm in self.lms.items() if lm.kind in kinds},
                                   classifier=self.classifier if CLASSIFIER in kinds else None)

    def named(self, names) -> "ModelSet":
        """This model set with only the language models called ``names`` (and no classifier)."""
        import dataclasses

        return dataclasses.replace(self, lms={n: lm for n, lm in self.lms.items() if n in names}, classifier=None)

    def hashes(self) -> list[tuple[str, str]]:
        """(name, sha256) of each model that scores: the LMs, then the classifier."""
        out = [(name, lm.sha256) for name, lm in self.lms.items()]
        return out + ([(self.classifier.name, self.classifier.sha256)] if self.classifier else [])

    def describe(self) -> dict:
        return {
            "lang": self.lang,
            "tokenizer": {"vocab_size": self.tokenizer.get_piece_size(),
                          "sha256": self.tokenizer_manifest["files"][TOKENIZER_FILE]["sha256"]},
            "models": {n: {"kind": m.kind, "role": m.role, "sha256": m.sha256,
                           "order": m.manifest["params"].get("order"),
                           "parameters": m.manifest["params"].get("parameters")} for n, m in self.lms.items()},
            **({"classifier": {"name": self.classifier.name, "kind": self.classifier.kind,
                               "label_meaning": self.classifier.label_meaning,
                               "sha256": self.classifier.sha256}} if self.classifier else {}),
        }


def _load_classifier(path: Path, manifest: dict, lang: str, tok_sha: str, loaded):
    from .classifier import load_classifier

    if manifest["lang"] != lang:
        raise WinnowModelError(f"{path}: classifier is for {manifest['lang']!r}, folder is for {lang!r}")
    if "tokenizer" in manifest and manifest["tokenizer"]["sha256"] != tok_sha:  # a linear one reads pieces
        raise WinnowModelError(f"{path}: classifier {manifest['name']!r} was trained on pieces of a different "
                               f"tokenizer than {path.parent / 'sentencepiece.model'}; retrain it with "
                               f"`winnow train classifier --lang {lang} ...`")
    if loaded is not None:
        raise WinnowModelError(f"{path}: a second classifier in {path.parent} (the first is {loaded.name!r}); a "
                               f"language has one classifier, whose score is classifier_prob")
    return load_classifier(path, manifest, lambda name: model_file(path, name))


def _load_tokenizer(spm, path: Path):
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise WinnowModelError(f"{path}: SentencePiece could not load it ({_reason(exc, path)}); it is not a "
                               f"SentencePiece model, or it is damaged") from None


def _load_kenlm(path: Path, lib):
    try:
        if lib is not None:
            return NativeKenLM(lib, path)
        import kenlm

        return kenlm.Model(str(path))
    except (OSError, RuntimeError) as exc:
        raise WinnowModelError(f"{path}: KenLM could not load it ({_reason(exc, path)}); it is not a KenLM binary or "
                               f"ARPA file, or it is damaged") from None


def _reason(exc: Exception, path: Path) -> str:
    """Why a library refused a file, without any of the file's content: loaders quote the
    offending line or bytes (KenLM: 'first non-empty line was "..."'), and a model file
    named by a manifest may be any file at all. The first line of the message is where
    and what the library threw; quoted text is left out and the rest is dropped."""
    first = (str(exc).strip().splitlines() or [""])[0]
    for quote in ('"', "'"):  # the file's own name, quoted, says nothing of its content
        first = first.replace(f"{quote}{path}{quote}", "the file")
    for quote in ('"', "'", "`"):
        if quote in first:
            first = first.split(quote, 1)[0].rstrip(" :(") + " [...]"
    first = first if len(first) <= 200 else first[:197] + "..."
    return first or type(exc).__name__


def available_languages(root: str | Path) -> list[str]:
    """Languages under ``root`` that have a tokenizer manifest."""
    root = Path(root)
    return sorted(p.parent.name for p in root.glob(f"*/{TOKENIZER_NAME}{MANIFEST_SUFFIX}"))


def load_model_sets(root: str | Path, langs: list[str] | None = None, *, verify: bool | str = True,
                    native: bool = True) -> dict[str, ModelSet]:
    """Load every language's model set under ``root`` (or only ``langs``); a remote root
    (``gs://``, ``s3://``, ...) is copied to a local cache first (see :func:`fs.local_copy`)."""
    from . import fs

    given = str(root)
    root = Path(fs.local_copy(given))
    if fs.is_remote(str(root)) or not root.is_dir():  # a remote root with no files stays a URI
        raise WinnowModelError(f"{given}: models root not found")
    found = available_languages(root)
    wanted = langs or found
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise WinnowModelError(
            f"{root}: no model set for {', '.join(missing)} (found: {', '.join(found) or 'none'})"
        )
    if not wanted:
        raise WinnowModelError(f"{root}: holds no model sets (expected ROOT/<lang>/sentencepiece.manifest.json)")
    return {lang: ModelSet.load(root / lang, verify=verify, native=native) for lang in wanted}
