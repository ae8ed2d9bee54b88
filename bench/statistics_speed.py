"""The cost of tune's statistics: Winnow's numpy code against the libraries, in one run.

    python bench/statistics_speed.py [--repeats 5] [--against d7239fe]

* the two-component mixture (50,000 values: bimodal, unimodal, skewed): Winnow's EM
  (``tuning.fit_mixture``) against scikit-learn's GaussianMixture with the same start,
  floor and a comparable tolerance (the settings the library was first tried with);
* ``tuning.tune_combined`` (20,000 rows, 6 features, 4 L2 strengths x 5 folds) now,
  against the hand-written Newton code of ``--against`` (a git revision; its
  pipeline/tuning.py is loaded from git, nothing is checked out).

Synthetic data (seeded): no shared corpora needed. After a warm-up call of each, the pair
runs in alternating order; the figures are the ratio new / reference, min and median over
the repetitions.

Run of 2026-12-02 (5 repetitions, 3 for tune_combined): GaussianMixture / Winnow's EM
13.0 / 13.3 (bimodal), 33.3 / 33.8 (unimodal: 8.2 s against 0.24 s, EM runs to its cap),
33.0 / 33.2 (skewed); tune_combined now / d7239fe 1.61 / 1.61 (0.28 s against 0.17 s).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from winnow.pipeline import tuning  # noqa: E402


def sklearn_mixture(x: np.ndarray) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    column = x.reshape(-1, 1)
    sd = max(float(x.std()), 1e-6)
    floor = max((sd * 1e-3) ** 2, 1e-12)
    mu = np.quantile(x, [0.25, 0.75]).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(1, reg_covar=floor, tol=1e-9, max_iter=1000).fit(column)
        GaussianMixture(2, reg_covar=floor, tol=1e-9, max_iter=1000, weights_init=[0.5, 0.5], means_init=mu,
                        precisions_init=np.full((2, 1, 1), 4 / sd ** 2)).fit(column)


def old_tuning(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:pipeline/tuning.py"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.replace("from .routing import ABOVE", 'ABOVE = "above"')
    path = Path(tempfile.mkdtemp()) / "old_tuning.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_tuning", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_tuning"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def ratios(new, reference, repeats: int) -> dict:
    r, t_new, t_ref = [], [], []
    new(), reference()  # warm-up: imports, first allocations
    for i in range(repeats):
        took = {}
        for name, fn in (("ref", reference), ("new", new)) if i % 2 == 0 else (("new", new), ("ref", reference)):
            start = time.perf_counter()
            fn()
            took[name] = time.perf_counter() - start
        a, b = took["ref"], took["new"]
        r.append(b / a)
        t_new.append(b)
        t_ref.append(a)
    return {"ratio_min": round(min(r), 2), "ratio_median": round(statistics.median(r), 2),
            "new_median_s": round(statistics.median(t_new), 3), "reference_median_s": round(statistics.median(t_ref), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", default="d7239fe", help="git revision with the hand-written statistics")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    data = {"bimodal": np.r_[rng.normal(1.8, 0.15, 30_000), rng.normal(2.6, 0.2, 20_000)],
            "unimodal": rng.normal(2.2, 0.3, 50_000), "skewed": np.log10(rng.lognormal(5, 0.6, 50_000))}
    for name, x in data.items():
        print(f"mixture, {name}, 50,000 values: scikit-learn / Winnow's EM",
              ratios(lambda: sklearn_mixture(x), lambda: tuning.fit_mixture(x), args.repeats))
    old = old_tuning(args.against)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(float)
    x = np.column_stack([rng.normal(0, 1, n) + 0.8 * y for _ in range(6)])
    cols = {f"f{j}": list(x[:, j]) for j in range(6)}

    def combined(module):
        return module.tune_combined(list(cols), cols, np.ones(n, bool), y, module.TuneOptions(bootstrap=20))

    print(f"tune_combined, 20,000 x 6: now / {args.against}",
          ratios(lambda: combined(tuning), lambda: combined(old), max(3, args.repeats // 2)))


if __name__ == "__main__":
    main()
