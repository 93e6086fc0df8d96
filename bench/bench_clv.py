"""Value models: fit and scoring time and peak memory at 100k, 1M and 10M customers, with
lifetimes side by side.

Customers are drawn from each model's own generative process (microseg.value.simulate_*):
a one-year cohort (first purchases spread evenly over 365 days), weekly unit, recency and
T on a daily grid as real summaries are. Parameters are the published CDNOW estimates.
Each measurement runs in its own process, so its peak RSS is its own.

    python bench/bench_clv.py                                   # 100k, 1M and 10M
    python bench/bench_clv.py --sizes 100000 1000000            # no 10M
    python bench/bench_clv.py --lifetimes-python /path/to/python  # lifetimes in that venv

lifetimes (``pip install -e '.[bench]'``, or a separate venv given by --lifetimes-python)
runs at the sizes up to --lifetimes-max (1M), on the same customers, fitting on the raw
arrays as its documentation does, with --lifetimes-timeout seconds per run.

Writes bench/results/clv.json and bench/results/clv.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
HORIZON_WEEKS = 52.0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(model: str, n: int, seed: int = 7) -> dict[str, Any]:
    """(frequency, recency, T, monetary) for n customers of a one-year cohort, in weeks."""
    import numpy as np

    from microseg.value import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd

    ages = np.random.default_rng(seed).integers(1, 366, n) / 7.0
    draw = simulate_bgnbd if model == "bgnbd" else simulate_pareto_nbd
    params = BG if model == "bgnbd" else PARETO
    f, r, t = draw(n, params, T=ages, seed=seed + 1, resolution=1 / 7)
    m = simulate_gamma_gamma(f, GG, seed=seed + 2)
    return {"frequency": f, "recency": r, "T": t, "monetary": np.round(m, 2)}


def _warm_up(model: str) -> None:
    """Fit and score 2,000 customers first, so lazy imports and first calls are not timed."""
    from microseg.value import BGNBD, GammaGamma, ParetoNBD, score

    data = simulate(model, 2000, seed=1)
    f, r, t, m = data["frequency"], data["recency"], data["T"], data["monetary"]
    fitted = (BGNBD if model == "bgnbd" else ParetoNBD)().fit(f, r, t)
    spend = GammaGamma().fit(f[f > 0], m[f > 0])
    score(fitted, spend, f, r, t, m)


def _load(path: str) -> dict[str, Any]:
    import numpy as np

    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def child_fit(model: str, n: int, path: str) -> dict[str, Any]:
    from microseg.value import BGNBD, GammaGamma, ParetoNBD, compress_rfm

    data = _load(path)
    f, r, t, m = data["frequency"], data["recency"], data["T"], data["monetary"]
    cls = BGNBD if model == "bgnbd" else ParetoNBD
    _warm_up(model)
    rss_before = _peak_rss_mib()
    start = time.perf_counter()
    fitted = cls().fit(f, r, t)
    seconds = time.perf_counter() - start
    repeat = f > 0
    start = time.perf_counter()
    spend = GammaGamma().fit(f[repeat], m[repeat])
    gg_seconds = time.perf_counter() - start
    return {
        "model": model,
        "customers": n,
        "unique_rows": compress_rfm(f, r, t).n_rows,
        "fit_seconds": round(seconds, 3),
        "n_iter": fitted.n_iter_,
        "params": {k: round(v, 4) for k, v in fitted.params_.items()},
        "repeat_customers": int(repeat.sum()),
        "gamma_gamma_seconds": round(gg_seconds, 3),
        "gamma_gamma_params": {k: round(v, 4) for k, v in spend.params_.items()},
        "data_rss_mib": round(rss_before),
        "peak_rss_mib": round(_peak_rss_mib()),
    }


def child_score(model: str, n: int, path: str) -> dict[str, Any]:
    from microseg.value import BGNBD, GammaGamma, ParetoNBD, clv, score

    data = _load(path)
    f, r, t, m = data["frequency"], data["recency"], data["T"], data["monetary"]
    cls = BGNBD if model == "bgnbd" else ParetoNBD
    purchase = cls.from_dict({"model": cls.__name__, "params": BG if model == "bgnbd" else PARETO})
    spend = GammaGamma.from_dict({"model": "GammaGamma", "params": GG})
    _warm_up(model)
    rss_before = _peak_rss_mib()
    start = time.perf_counter()
    score(purchase, spend, f, r, t, m, t=HORIZON_WEEKS)
    together = time.perf_counter() - start
    separate: dict[str, float] = {}
    calls = {
        "p_alive": lambda: purchase.p_alive(f, r, t),
        "expected_purchases": lambda: purchase.expected_purchases(HORIZON_WEEKS, f, r, t),
        "p_any_purchase": lambda: purchase.p_any_purchase(HORIZON_WEEKS, f, r, t),
        "expected_spend": lambda: spend.expected_spend(f, m),
        "clv": lambda: clv(purchase, spend, f, r, t, m),
    }
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        separate[name] = round(time.perf_counter() - start, 3)
    return {
        "model": model,
        "customers": n,
        "score_seconds": round(together, 3),
        "separate_seconds": separate,
        "separate_total_seconds": round(sum(separate.values()), 3),
        "data_rss_mib": round(rss_before),
        "peak_rss_mib": round(_peak_rss_mib()),
    }


def child_dump(model: str, n: int, path: str) -> dict[str, Any]:
    import numpy as np

    np.savez(path, **simulate(model, n))
    return {"path": path}


# The lifetimes side runs in its own interpreter (possibly another venv): this script is
# passed to it as source, so it needs only numpy, pandas and lifetimes there.
LIFETIMES_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

model, path, horizon = sys.argv[1], sys.argv[2], float(sys.argv[3])
data = np.load(path)
f, r, t, m = (pd.Series(data[k]) for k in ("frequency", "recency", "T", "monetary"))
fitter = BetaGeoFitter() if model == "bgnbd" else ParetoNBDFitter()
start = time.perf_counter()
fitter.fit(f, r, t)
fit_seconds = time.perf_counter() - start
repeat = f > 0
gg = GammaGammaFitter()
start = time.perf_counter()
gg.fit(f[repeat], m[repeat])
gg_seconds = time.perf_counter() - start
start = time.perf_counter()
fitter.conditional_probability_alive(f, r, t)
fitter.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, t)
spend = gg.conditional_expected_average_profit(f, m.where(f > 0, 1.0))
gg.customer_lifetime_value(fitter, f, r, t, m.where(f > 0, 1.0), time=12, discount_rate=0.01)
score_seconds = time.perf_counter() - start
print(json.dumps({
    "lifetimes": lifetimes.__version__,
    "fit_seconds": round(fit_seconds, 3),
    "params": {k: round(float(v), 4) for k, v in fitter.params_.items()},
    "gamma_gamma_seconds": round(gg_seconds, 3),
    "score_seconds": round(score_seconds, 3),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
"""


def _run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _run_lifetimes(python: str, model: str, path: str, timeout: float) -> dict[str, Any]:
    try:
        out = subprocess.run(
            [python, "-c", LIFETIMES_CHILD, model, path, str(HORIZON_WEEKS)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--models", nargs="+", default=["bgnbd", "pareto"])
    parser.add_argument("--no-fit-above", type=int, default=10_000_000, help="score only above")
    parser.add_argument("--lifetimes-python", default=None)
    parser.add_argument("--lifetimes-max", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-timeout", type=float, default=400.0)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, model, n, *rest = args.child
        if kind == "fit":
            result = child_fit(model, int(n), rest[0])
        elif kind == "score":
            result = child_score(model, int(n), rest[0])
        else:
            result = child_dump(model, int(n), rest[0])
        print(json.dumps(result))
        return

    from _machine import describe

    lifetimes_python = args.lifetimes_python or _own_lifetimes()
    results: dict[str, Any] = {
        "machine": describe(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        # the machine is shared: the load average says how much else was running
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "params": {"bgnbd": BG, "pareto": PARETO, "gamma_gamma": GG},
        "fit": [],
        "score": [],
        "lifetimes": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for model in args.models:
                # the customers are drawn once, in a process of their own, and loaded
                # by each measurement, so that peak RSS is the measurement's
                path = str(Path(tmp) / f"{model}-{n}.npz")
                _run_child("dump", model, str(n), path)
                if n <= args.no_fit_above:
                    row = _run_child("fit", model, str(n), path)
                    results["fit"].append(row)
                    print("fit", row, flush=True)
                row = _run_child("score", model, str(n), path)
                results["score"].append(row)
                print("score", row, flush=True)
                if lifetimes_python and n <= args.lifetimes_max:
                    row = {"model": model, "customers": n}
                    row.update(
                        _run_lifetimes(lifetimes_python, model, path, args.lifetimes_timeout)
                    )
                    results["lifetimes"].append(row)
                    print("lifetimes", row, flush=True)
    results["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clv.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "clv.md").write_text(_markdown(results))


def _own_lifetimes() -> str | None:
    try:
        import lifetimes  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def _markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    fits = {(r["model"], r["customers"]): r for r in results["fit"]}
    theirs = {(r["model"], r["customers"]): r for r in results["lifetimes"]}
    lines = [
        "# Value models benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"Python {machine['python']}; run {results['date']}, load average "
        f"{results['load_average_start'][1]} at the start and "
        f"{results['load_average_end'][1]} at the end (5-minute). "
        "Reproduce: `python bench/bench_clv.py --lifetimes-python PATH`.",
        "",
        "Synthetic one-year cohorts drawn from each model's own process at the published "
        "CDNOW estimates (weekly unit, daily grid). Fit time includes input checks and "
        "compression to unique (frequency, recency, T) rows. Data MiB is the process's peak "
        "RSS with the customers loaded, before the measurement (interpreter, numpy, scipy "
        "and pandas included); peak RSS MiB is after it.",
        "",
        "## Fit",
        "",
        "| model | customers | unique rows | fit s | iterations | Gamma-Gamma s "
        "| data MiB | peak RSS MiB | lifetimes fit s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (model, n), row in fits.items():
        other = theirs.get((model, n), {})
        their_fit = other.get("fit_seconds")
        ratio = f"{their_fit / row['fit_seconds']:.0f}x" if their_fit else other.get("error", "")
        lines.append(
            f"| {model} | {n:,} | {row['unique_rows']:,} | {row['fit_seconds']} "
            f"| {row['n_iter']} | {row['gamma_gamma_seconds']} | {row['data_rss_mib']:,} "
            f"| {row['peak_rss_mib']:,} "
            f"| {their_fit if their_fit is not None else ''} | {ratio} |"
        )
    lines += [
        "",
        "## Scoring (P(alive), expected purchases and P(any purchase) over 52 weeks, "
        "expected spend, 12-month CLV)",
        "",
        "| model | customers | score() s | separate calls s | data MiB | peak RSS MiB "
        "| lifetimes s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["score"]:
        other = theirs.get((row["model"], row["customers"]), {})
        their_score = other.get("score_seconds")
        ratio = f"{their_score / row['score_seconds']:.0f}x" if their_score else ""
        lines.append(
            f"| {row['model']} | {row['customers']:,} | {row['score_seconds']} "
            f"| {row['separate_total_seconds']} | {row['data_rss_mib']:,} "
            f"| {row['peak_rss_mib']:,} "
            f"| {their_score if their_score is not None else ''} | {ratio} |"
        )
    if results["lifetimes"]:
        lines += [
            "",
            "lifetimes scoring covers P(alive), expected purchases, expected spend and CLV "
            "(it has no P(any purchase)); its peak RSS, in MiB: "
            + ", ".join(
                f"{r['model']} {r['customers']:,}: {r.get('peak_rss_mib', r.get('error'))}"
                for r in results["lifetimes"]
            )
            + ".",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
