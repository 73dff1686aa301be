"""The reproduction scorecard: each claim of the paper, the paper's value, this build's, and a verdict.

Every row is computed from the run store (running what is missing), never typed in. A claim is a
:class:`Claim` with a ``check(profile, seed) -> Verdict``; :func:`evaluate` runs them all.

A verdict has one of four levels (:class:`Level`):

``reproduced``
    two-sided: the book's value lies within a stated tolerance of the paper's published value or
    of a closed form (for Monte Carlo runs, three standard errors), and the effect is material;
``direction only``
    the effect has the paper's sign but the wrong magnitude or pace (the ratio is given);
``not reproduced``
    the effect is absent, or has the wrong sign;
``not run at this profile``
    the profile's runs are too short or too small to test the claim (for example fewer
    generations than the paper's figure shows).

Every verdict states the paper's value (its text or figures; a closed form where the paper has only a
theorem or a picture), the book's value, and the tolerance with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np
from scipy import stats

from . import metrics, theory
from .distributions import gmm_truth, zipf_probabilities
from .experiments import resolve_settings, run_experiment
from .experiments.prevention import gaussian_sample_sizes
from .experiments.vae import LatentQuantile, vae_chapter_runs
from .metrics import Quantile, data_perplexities, first_true, mixture_total_variance
from .profiles import Sweep, check_profile


class Level(str, Enum):
    """How far a claim was reproduced; the value is the text the scorecard shows."""

    REPRODUCED = "reproduced"
    DIRECTION = "direction only"
    NOT_REPRODUCED = "not reproduced"
    NOT_RUN = "not run at this profile"


#: The levels in the order the summary counts them.
LEVELS = tuple(Level)


@dataclass(frozen=True)
class Verdict:
    """What the paper reports (``paper_value``), what this build measured (``book_value``), the
    ``tolerance`` (and why it is that), the :class:`Level`, and why a claim was not reproduced."""

    level: Level
    paper_value: str
    book_value: str
    tolerance: str
    reason: str = ""


@dataclass(frozen=True)
class Claim:
    """One claim of the paper (``paper``: what it reports and where) and how to check it."""

    key: str
    chapter: str
    paper: str
    check: Callable[[str, int], Verdict]


def _level(material: bool, agree: bool, direction: bool = False) -> Level:
    """``NOT_RUN`` if the run cannot show the effect; else reproduced if it agrees, direction only if only
    the sign is right, not reproduced otherwise."""
    if not material:
        return Level.NOT_RUN
    if agree:
        return Level.REPRODUCED
    return Level.DIRECTION if direction else Level.NOT_REPRODUCED


SE3 = "3 Monte Carlo standard errors of the simulated value (the simulation is exact; only its chain count limits it)"


def _median_log_se(sd_log, n_chains):
    """Standard error of a sample median of a normal quantity with standard deviation ``sd_log``."""
    return 1.2533 * sd_log / np.sqrt(n_chains)


# ---------------------------------------------------------------------------------------------
# The single Gaussian (SI Figs. 3-5)
# ---------------------------------------------------------------------------------------------

def _gaussian(profile, seed, **settings):
    return run_experiment("gaussian", profile, seed, **settings)


def _gaussian_sample_sizes(profile):
    return list(resolve_settings("gaussian", profile)["sample_size"])


def _median_sigma_against_g6(result, ddof, n_chains):
    """(median σ̂ at the last generation, the (G6) median, whether they agree within 3 standard errors)."""
    mean, sd = (float(a[-1]) for a in theory.log_variance_moments(1.0, result["sample_size"], ddof))
    median = float(result["sigma_q"][-1, Quantile.MEDIAN])
    predicted = float(np.exp(mean / 2))
    return median, predicted, bool(abs(2 * np.log(median) - mean) < 3 * _median_log_se(sd, n_chains))


def check_variance_collapses(profile: str, seed: int) -> Verdict:
    m = min(_gaussian_sample_sizes(profile))
    chains = resolve_settings("gaussian", profile)["n_chains"]
    book, paper, agree, collapsed, material, n = [], [], True, True, True, None
    for ddof in (0, 1):
        result = _gaussian(profile, seed, sample_size=m, ddof=ddof, policy="replace")
        n = int(result["generation"][-1])
        median, predicted, ok = _median_sigma_against_g6(result, ddof, chains)
        book.append(f"ddof={ddof}: median σ̂ {median:.3g}")
        paper.append(f"ddof={ddof}: {predicted:.3g}")
        agree &= ok
        collapsed &= median < 0.5
        material &= predicted < 0.5
    level = _level(material, agree, collapsed)
    reason = {Level.NOT_RUN: f"only {n} generations at M={m}: the (G6) median σ̂ has not yet halved (σ̂² loses an "
                             f"e-fold about every M generations under ddof=1, M/2 under ddof=0)",
              Level.DIRECTION: "σ̂ collapses, but not at the (G6) rate",
              Level.NOT_REPRODUCED: "σ̂ has not collapsed"}.get(level, "")
    return Verdict(level,
                   f"SI Fig. 3 (one unseeded run per M): |σ − σ̂| climbs to σ at M=100 within 1000 generations; "
                   f"the closed form (G6) gives the median σ̂ after {n} generations at M={m}: " + ", ".join(paper),
                   f"{chains} chains, M={m}, {n} generations: " + "; ".join(book),
                   "3 standard errors of the median of log σ̂² over the chains (1.25 sd/√chains); the paper's "
                   "figure is a single run, so the closed form is the reference", reason)


def check_w2_grows(profile: str, seed: int) -> Verdict:
    m = max(_gaussian_sample_sizes(profile))  # n <= M keeps the Monte Carlo mean trustworthy (heavy tails otherwise)
    chains = resolve_settings("gaussian", profile)["n_chains"]
    result = _gaussian(profile, seed, sample_size=m, ddof=1, policy="replace")
    n = int(result["generation"][-1])
    mc, se = result["mean_w2_sq"], float(result["sd_w2_sq"][-1]) / np.sqrt(chains)
    exact = theory.expected_w2_squared(1.0, result["sample_size"], 1)
    tenth = max(n // 10, 1)
    growth = mc[-1] / mc[tenth]
    level = _level(exact[-1] / exact[tenth] > 3, abs(mc[-1] - exact[-1]) < 3 * se, growth > 3)
    return Verdict(level,
                   f"Thm 3.1 / SI eq. 6: E[W₂²] ≈ (3/2)σ²(n+1)/M grows without bound; exact at M={m}, generation "
                   f"{n}: {exact[-1]:.3g} ({exact[-1] / exact[tenth]:.1f}× generation {tenth}'s)",
                   f"ddof=1, {chains} chains: {mc[-1]:.3g} ± {se:.2g} ({growth:.1f}× generation {tenth}'s)", SE3,
                   {Level.NOT_RUN: f"only {n} generations at M={m}: the exact distance has not yet grown threefold",
                    Level.DIRECTION: "grows, but differs from the exact expectation beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the distance does not grow"}.get(level, ""))


def check_larger_m_slows(profile: str, seed: int) -> Verdict:
    sizes = sorted(_gaussian_sample_sizes(profile))
    chains = resolve_settings("gaussian", profile)["n_chains"]
    rows = [_median_sigma_against_g6(_gaussian(profile, seed, sample_size=m, ddof=0, policy="replace"), 0, chains)
            for m in sizes]
    medians = np.array([r[0] for r in rows])
    ordered = bool(np.all(np.diff(medians) > 0))
    level = _level(rows[0][1] < 0.9, all(r[2] for r in rows) and ordered, ordered)
    return Verdict(level,
                   "SI Fig. 3: one curve per M; the larger M, the slower σ̂ drifts. Closed form (G6), median σ̂ at the "
                   "last generation: " + ", ".join(f"M={m}: {r[1]:.3g}" for m, r in zip(sizes, rows)),
                   f"ddof=0, {chains} chains: " + ", ".join(f"M={m}: {r[0]:.3g}" for m, r in zip(sizes, rows)),
                   "each M within 3 standard errors of the median of log σ̂², and ordered by M",
                   {Level.NOT_RUN: "too few generations for the smallest M to lose 10% of σ",
                    Level.DIRECTION: "ordered by M, but some M differ from (G6) beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the medians are not ordered by M"}.get(level, ""))


def check_accumulate_keeps_variance(profile: str, seed: int) -> Verdict:
    m = min(_gaussian_sample_sizes(profile))
    chains = resolve_settings("gaussian", profile)["n_chains"]
    result = _gaussian(profile, seed, sample_size=m, ddof=0, policy="accumulate")
    n = int(result["generation"][-1])
    mc, se = float(result["mean_sq_mean_error"][-1]), float(result["sd_sq_mean_error"][-1]) / np.sqrt(chains)
    exact = float(theory.multivariate_gaussian_errors(1.0, result["sample_size"], "accumulate", 0.0, 0)[0][-1])
    median = float(result["sigma_q"][-1, Quantile.MEDIAN])
    agree = abs(mc - exact) < 3 * se and abs(median - 1) < 0.1
    level = _level(n >= 10, agree, mc < 3 * exact and median > 0.5)
    return Verdict(level,
                   f"SI Fig. 5 (the whole pool; code cell 16): the errors stay bounded. Closed form: E(μ̂−μ)²·M → "
                   f"π²/6 = {np.pi**2 / 6:.3f}; {exact * m:.3f} at generation {n}, M={m}; σ̂ stays near σ",
                   f"ddof=0, {chains} chains: E(μ̂−μ)²·M = {mc * m:.3f} ± {se * m:.2g}; median σ̂ {median:.3g}",
                   f"{SE3}; σ̂ within 10% of σ (the pooled ddof=0 estimate shrinks by a convergent product close to 1)",
                   {Level.NOT_RUN: "fewer than 10 generations",
                    Level.DIRECTION: "bounded, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the accumulated fit drifted"}.get(level, ""))


def _gaussian_subsample(profile, seed, sample_size):
    return run_experiment("gaussian_subsample", profile, seed, sample_size=sample_size)


def check_subsample_bounded(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("gaussian_subsample", profile)
    sizes, chains = list(settings["sample_size"]), settings["n_chains"]
    book, paper, agree, bounded, n = [], [], True, True, 0
    for m in sizes:
        r = _gaussian_subsample(profile, seed, m)
        n = int(r["generation"][-1])
        mc, se = float(r["mean_sq_mean_error"][-1]), float(r["sd_sq_mean_error"][-1]) / np.sqrt(chains)
        exact = float(theory.expected_subsample_mean_sq_error(settings["sigma"], m, n)[-1])
        median = float(r["sigma_q"][-1, Quantile.MEDIAN])
        agree &= abs(mc - exact) < 3 * se and abs(median - 1) < 0.1
        bounded &= mc < (n + 1) / m / 3 and median > 0.5
        paper.append(f"M={m}: {exact * m:.3g}")
        book.append(f"M={m}: {mc * m:.3g} ± {se * m:.2g} (median σ̂ {median:.3g})")
    level = _level(n >= 10, agree, bounded)
    return Verdict(level,
                   "SI Fig. 4 (M points drawn each generation from the pool; not in the official code): the errors stay "
                   "bounded, between SI Fig. 3's and SI Fig. 5's (the figure's numbers are not quoted in the book's "
                   "sources; its shape is UNVERIFIED). The book's first-order closed form: E(μ̂−μ)²·M → 2.94 (π²/6 = "
                   f"1.64 for the whole pool, n+1 under replace); at generation {n}: " + ", ".join(paper),
                   f"ddof=0, {chains} chains of literal samples, E(μ̂−μ)²·M at generation {n}: " + "; ".join(book),
                   f"{SE3}; σ̂ within 10% of σ. The closed form neglects terms of order 1/M",
                   {Level.NOT_RUN: "fewer than 10 generations",
                    Level.DIRECTION: "bounded, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the error grows like replace's"}.get(level, ""))


# ---------------------------------------------------------------------------------------------
# The theory chapter
# ---------------------------------------------------------------------------------------------

def _wright_fisher(profile, seed):
    settings = resolve_settings("wright_fisher", profile)
    return settings, run_experiment("wright_fisher", profile, seed)


def check_absorption(profile: str, seed: int) -> Verdict:
    settings, result = _wright_fisher(profile, seed)
    chains, n, m = settings["n_chains"], settings["n_generations"], settings["sample_size"]
    absorbed = float(np.mean(result["fixed_state"][-1] >= 0))
    # generation g is the fit after g + 1 multinomial draws
    exact = float(theory.absorption_probability(np.asarray(settings["probabilities"]), m, [n + 1])[0])
    se = np.sqrt(max(exact * (1 - exact), 1 / chains) / chains)
    level = _level(exact >= 0.99, abs(absorbed - exact) < 3 * se, absorbed > 0.5)
    return Verdict(level,
                   f"§3.1: absorbed in a single state with probability 1; exact chance after {n} generations at M={m}: "
                   f"{exact:.4f}",
                   f"{absorbed:.4f} of {chains} chains",
                   "3 binomial standard errors of the chain fraction",
                   {Level.NOT_RUN: "too few generations: the exact chance of absorption is still below 99%",
                    Level.DIRECTION: "absorbed, but not at the exact rate",
                    Level.NOT_REPRODUCED: "the chains are not absorbed"}.get(level, ""))


def check_fixation_probability(profile: str, seed: int) -> Verdict:
    settings, result = _wright_fisher(profile, seed)
    final = result["fixed_state"][-1]
    final = final[final >= 0]
    q = np.asarray(settings["probabilities"])
    counts = np.bincount(final, minlength=q.size)
    p_value = float(stats.chisquare(counts, q * counts.sum()).pvalue)
    level = Level.REPRODUCED if p_value > 1e-3 else Level.NOT_REPRODUCED
    return Verdict(level, "§3.1: the chance of ending in state k is q_k = " + ", ".join(f"{qk:g}" for qk in q),
                   "fixation frequencies " + ", ".join(f"{c / counts.sum():.3f}" for c in counts)
                   + f" ({counts.sum()} absorbed chains)",
                   f"χ² test against q at p > 0.001 (here p = {p_value:.2g})",
                   "" if p_value > 1e-3 else "fixation frequencies differ from q beyond chance")


def check_rare_states_first(profile: str, seed: int) -> Verdict:
    settings, result = _wright_fisher(profile, seed)
    q, m, chains = np.asarray(settings["probabilities"]), settings["sample_size"], settings["n_chains"]
    present = result["present_fraction"]
    half = first_true(present < 0.5, axis=0).astype(float)
    half[half < 0] = np.inf
    exact = theory.state_presence_probability(q, m, np.arange(1, len(present) + 1))  # generation g: g + 1 draws
    exact_half = first_true(exact < 0.5, axis=0).astype(float)
    exact_half[exact_half < 0] = np.inf
    # at each state's exact half-life, the simulated share of chains keeping it is the exact one within 3 binomial
    # standard errors
    at = [(int(h), k) for k, h in enumerate(exact_half) if np.isfinite(h)]
    agree = all(abs(present[h, k] - exact[h, k]) < 3 * np.sqrt(0.25 / chains) for h, k in at)
    ordered = bool(np.all(np.diff(half) <= 0))
    level = _level(len(at) > 0, agree and ordered, ordered)
    return Verdict(level,
                   "Def. 2.1, §3.1: low-probability states are lost first; exact generation by which half the chains "
                   "lost each state: " + ", ".join(f"q={qk:g}: {h:g}" for qk, h in zip(q, exact_half)),
                   ", ".join(f"q={qk:g}: {h:g}" for qk, h in zip(q, half)),
                   "at each exact half-life, the share of chains keeping the state within 3 binomial standard errors "
                   "of the exact share; half-lives ordered by q",
                   {Level.NOT_RUN: "no state is lost by half the chains within the run",
                    Level.DIRECTION: "ordered, but the half-lives differ from the exact chain beyond chance",
                    Level.NOT_REPRODUCED: "half-lives not ordered by probability"}.get(level, ""))


def _gaussian_theory(profile, seed, ddof, schedule):
    settings = resolve_settings("gaussian_theory", profile)
    return settings, run_experiment("gaussian_theory", profile, seed, ddof=ddof, schedule=schedule)


def check_log_variance_rate(profile: str, seed: int) -> Verdict:
    settings, result = _gaussian_theory(profile, seed, 1, "constant")
    m, n, sigma = settings["sample_size"], int(result["generation"][-1]), settings["sigma"]
    exact = theory.log_variance_moments(sigma, result["sample_size"], 1)[0][-1] - np.log(sigma**2)
    drift = float(result["mean_log_variance"][-1]) - np.log(sigma**2)
    se = float(result["sd_log_variance"][-1]) / np.sqrt(settings["n_chains"])
    # material: on average at least one e-fold of σ² lost; and the rate agrees with G6 within 3 standard errors
    level = _level(exact < -1, abs(drift - exact) < 3 * se, drift < 0)
    return Verdict(level,
                   f"Thm 3.1 / (G6): mean log(σ̂²/σ²) after {n} generations at M={m}, ddof=1: exact {exact:.3g} (rule "
                   f"of thumb −(n+1)/(M−1) = {-(n + 1) / (m - 1):.3g})",
                   f"{drift:.3g} ± {se:.2g} over {settings['n_chains']} chains (median σ̂ "
                   f"{float(result['sigma_q'][-1, Quantile.MEDIAN]):.3g})", SE3,
                   {Level.NOT_RUN: f"only {n} generations at M={m}: less than one e-fold of σ² lost",
                    Level.DIRECTION: "σ² shrinks, but not at the exact rate",
                    Level.NOT_REPRODUCED: "σ² does not shrink"}.get(level, ""))


def check_superlinear_sizes_bound_w2(profile: str, seed: int) -> Verdict:
    settings, quadratic = _gaussian_theory(profile, seed, 1, "quadratic")
    constant = _gaussian_theory(profile, seed, 1, "constant")[1]
    m0, n, sigma = settings["sample_size"], int(quadratic["generation"][-1]), settings["sigma"]
    quarter = max(n // 4, 1)
    mc, se = float(quadratic["mean_w2_sq"][-1]), float(quadratic["sd_w2_sq"][-1]) / np.sqrt(settings["n_chains"])
    exact = float(theory.expected_w2_squared(sigma, quadratic["sample_size"], 1)[-1])
    rise_quadratic = mc / quadratic["mean_w2_sq"][quarter] - 1
    rise_constant = constant["mean_w2_sq"][-1] / constant["mean_w2_sq"][quarter] - 1
    # bounded: agrees with the exact value within 3 standard errors and rises < 10% over the last three
    # quarters of the generations, while at constant M the same stretch adds more than half
    level = _level(rise_constant > 0.5, abs(mc - exact) < 3 * se and rise_quadratic < 0.1, rise_quadratic < 0.5)
    return Verdict(level,
                   f"SI: E[W₂²] ≈ (3/2)σ²Σ1/M_i stays bounded iff Σ1/M_i < ∞; exact for M_i = {m0}(i+1)² at generation "
                   f"{n}: {exact:.3g} (first-order limit (3/2)σ²π²/(6M₀) = {1.5 * sigma**2 * np.pi**2 / (6 * m0):.3g})",
                   f"{mc:.3g} ± {se:.2g}; from generation {quarter} to {n} it rises {rise_quadratic:.1%}, against "
                   f"{rise_constant:.0%} at constant M={m0}",
                   f"{SE3}; levelled off: < 10% rise over the last three quarters",
                   {Level.NOT_RUN: "too few generations for the constant-M distance to outgrow its early level",
                    Level.DIRECTION: "the quadratic schedule's distance grows far less than constant M's, but has not "
                                     "levelled off at the closed form",
                    Level.NOT_REPRODUCED: "the quadratic schedule's distance keeps growing"}.get(level, ""))


def _from_check(book_value: str, held: bool, reason: str, paper_value: str, tolerance: str,
                direction: bool = False) -> Verdict:
    """The verdict of a check that compares a simulation with a closed form: reproduced if it ``held``; not run
    at this profile if the run was too short to show the effect (a ``reason`` that starts "only" or "too few");
    otherwise direction only if ``direction`` (the right sign), else not reproduced."""
    if held:
        return Verdict(Level.REPRODUCED, paper_value, book_value, tolerance)
    if reason.startswith(("only ", "too few")):
        return Verdict(Level.NOT_RUN, paper_value, book_value, tolerance, reason)
    return Verdict(Level.DIRECTION if direction else Level.NOT_REPRODUCED, paper_value, book_value, tolerance, reason)


def _regression(profile, seed, policy):
    settings = resolve_settings("prevention_regression", profile)
    design_size = max(settings["design_size"])  # the best-conditioned design of the sweep
    result = run_experiment("prevention_regression", profile, seed, design_size=design_size, policy=policy)
    return settings, design_size, result


def check_regression_replace_linear(profile: str, seed: int) -> Verdict:
    settings, t, result = _regression(profile, seed, "replace")
    first, last, n = result["mean_test_error"][0], result["mean_test_error"][-1], int(result["generation"][-1])
    ratio = last / first
    held = abs(ratio / (n + 1) - 1) < 0.2
    return _from_check(f"d={settings['dim']}, T={t}: mean test error {first:.3g} at the first fit, {last:.3g} after "
                       f"{n + 1} fits ({ratio:.1f}×)", held,
                       "the growth is not linear within 20%", f"closed form σ²d/(T−d−1)·n: {n + 1}× the first fit's "
                       f"error after {n + 1} fits", "20% of the predicted ratio (about 3 Monte Carlo standard errors "
                       "of a ratio of means at this chain count)", direction=ratio > 1)


def check_regression_accumulate_bounded(profile: str, seed: int) -> Verdict:
    settings, t, result = _regression(profile, seed, "accumulate")
    ratio = float(result["mean_test_error"][-1] / result["mean_test_error"][0])
    held = ratio < np.pi**2 / 6 * 1.1
    return _from_check(f"d={settings['dim']}, T={t}: after {int(result['generation'][-1]) + 1} fits the mean test "
                       f"error is {ratio:.3f}× the first fit's", held,
                       "the accumulated error exceeds the π²/6 bound beyond Monte Carlo error",
                       f"closed form σ²d/(T−d−1)·Σ1/i² ≤ π²/6 = {np.pi**2 / 6:.3f} times the first fit's",
                       "10% above the bound (Monte Carlo error of a ratio of means)")


def _prevention(name, profile, seed, **settings):
    return run_experiment(name, profile, seed, **settings)


def _last_mean_sq_error(result, n_chains):
    """Monte Carlo mean of ‖μ̂ − μ‖² at the last generation and its standard error."""
    return float(result["mean_sq_mean_error"][-1]), float(result["sd_sq_mean_error"][-1]) / np.sqrt(n_chains)


def check_mvg_accumulate_bounded(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_gaussian", profile)
    trace, unit = theory.gaussian_error_unit(settings)
    runs = {p: _prevention("prevention_gaussian", profile, seed, policy=p) for p in ("replace", "accumulate")}
    exact = {p: float(theory.multivariate_gaussian_errors(trace, r["sample_size"], p, 0.0, settings["ddof"])[0][-1])
             for p, r in runs.items()}
    replace = _last_mean_sq_error(runs["replace"], settings["n_chains"])[0]
    accumulate, se = _last_mean_sq_error(runs["accumulate"], settings["n_chains"])
    n = int(runs["accumulate"]["generation"][-1])
    # accumulate at its closed form (<= π²/6 tr Σ/M) within 3 standard errors; replace materially (5×) above it
    held = bool(abs(accumulate - exact["accumulate"]) < 3 * se and replace > 5 * accumulate)
    measured = (f"d={settings['dim']}, M={settings['sample_size']}: E‖μ̂−μ‖² after {n} generations, in units of "
                f"tr Σ/M — accumulate {accumulate / unit:.3g} ± {se / unit:.2g} against the exact "
                f"{exact['accumulate'] / unit:.3g} (π²/6 = {np.pi**2 / 6:.3f}); replace {replace / unit:.3g} "
                f"(exact {exact['replace'] / unit:.3g})")
    reason = "" if held else (f"only {n} generations: replace has not yet grown well past accumulate"
                              if exact["replace"] <= 5 * exact["accumulate"] else
                              "replace has not grown well past accumulate" if replace <= 5 * accumulate else
                              "accumulate differs from its closed form beyond Monte Carlo error")
    return _from_check(measured, held, reason,
                       f"closed form: E‖μ̂−μ‖² (units of tr Σ/M) {exact['accumulate'] / unit:.3g} under accumulate (→ π²/6), {exact['replace'] / unit:.3g} under replace",
                       f"{SE3}; replace at least 5× accumulate (material)")


def check_mvg_volume_collapses(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_gaussian", profile)
    result = _prevention("prevention_gaussian", profile, seed, policy="replace")
    d, n = settings["dim"], int(result["generation"][-1])
    exact = float(theory.log_det_moments(d, result["sample_size"], settings["ddof"])[0][-1])
    mean = float(result["mean_log_det_ratio"][-1])
    se = float(result["sd_log_det_ratio"][-1]) / np.sqrt(settings["n_chains"])
    # material: the geometric mean of the eigenvalues lost at least one e-fold (log det ratio < −d)
    held = bool(mean < -d and abs(mean - exact) < 3 * se)
    measured = (f"d={d}, M={settings['sample_size']}, replace: mean log det Σ̂ − log det Σ {mean:.3g} ± {se:.2g} after "
                f"{n} generations against the exact {exact:.3g} (about −d(d+1)/(2M) = "
                f"{-d * (d + 1) / (2 * settings['sample_size']):.3g} per generation); median "
                f"{float(result['log_det_ratio_q'][-1, Quantile.MEDIAN]):.3g}")
    reason = "" if held else (f"only {n} generations: the volume has not yet lost an e-fold per dimension"
                              if exact >= -d else "the volume has not lost an e-fold per dimension" if mean >= -d else "the drift differs from the closed form beyond Monte Carlo error")
    return _from_check(measured, held, reason,
                       f"closed form: mean log det Σ̂ − log det Σ = {exact:.3g} after {n} generations (Thm 3.1 in d dimensions: Σ_n → 0)",
                       f"{SE3}; material: below −d (an e-fold per dimension)")


def check_mix_bounds_error(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_mix", profile)
    trace, unit = theory.gaussian_error_unit(settings)
    gamma, m = 0.1, settings["sample_size"]  # the paper's 10% (language-model setting 2)
    mixed = _prevention("prevention_mix", profile, seed, real_fraction=gamma, real_sample_size=0)
    alone = _prevention("prevention_mix", profile, seed, real_fraction=0.0, real_sample_size=0)
    tail = len(mixed["generation"]) * 3 // 4  # the last quarter of the generations
    simulated = float(mixed["mean_sq_mean_error"][tail:].mean())
    se = float(mixed["sd_sq_mean_error"][tail:].mean()) / np.sqrt(settings["n_chains"])  # an upper bound
    exact = float(theory.multivariate_gaussian_errors(trace, mixed["sample_size"], "mix", gamma,
                                                      settings["ddof"])[0][tail:].mean())
    limit = theory.multivariate_gaussian_mix_limit(trace, m, gamma, settings["ddof"])[0]
    without = float(alone["mean_sq_mean_error"][tail:].mean())
    settled = abs(exact / limit - 1) < 0.05
    # at its closed form within 3 standard errors, the closed form at its limit, and materially (5×) below γ = 0
    held = bool(abs(simulated - exact) < 3 * se and settled and without > 5 * simulated)
    measured = (f"d={settings['dim']}, M={m}: mean E‖μ̂−μ‖² over the last quarter of {len(mixed['generation']) - 1} "
                f"generations, in units of tr Σ/M — γ={gamma:g}: {simulated / unit:.3g} ± {se / unit:.2g} against the "
                f"exact {exact / unit:.3g} (limit m* = {limit / unit:.3g}; 1/(γ(2−γ)) = {1 / (gamma * (2 - gamma)):.3g}); "
                f"γ=0: {without / unit:.3g}")
    if held:
        reason = ""
    elif not settled:
        reason = f"only {len(mixed['generation']) - 1} generations: the error is still climbing towards its limit m*"
    elif without <= 5 * simulated:
        exact_without = float(theory.multivariate_gaussian_errors(trace, alone["sample_size"], "mix", 0.0,
                                                                  settings["ddof"])[0][tail:].mean())
        reason = ("too few generations for the error without real data to grow well past the mixed one"
                  if exact_without <= 5 * exact else "the error without real data did not grow past the mixed one")
    else:
        reason = "the simulation differs from the closed form beyond Monte Carlo error"
    return _from_check(measured, held, reason,
                       f"closed form (Bertrand et al. 2024 for the Gaussian): E‖μ̂−μ‖² settles at m* = {limit / unit:.3g} tr Σ/M for γ = {gamma:g}",
                       f"{SE3} (the standard error of a mean over the last quarter is bounded above); the closed form within 5% of its limit; γ = 0 at least 5× above")


def check_growing_sizes_like_accumulate(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_schedules", profile)
    trace, unit = theory.gaussian_error_unit(settings)
    cases = [("replace", "quadratic"), ("accumulate", "constant")]
    runs = {case: _prevention("prevention_schedules", profile, seed, policy=case[0], schedule=case[1])
            for case in cases + [("replace", "constant")]}
    parts, agree = [], True
    for policy, schedule in cases:
        r = runs[policy, schedule]
        mc, se = _last_mean_sq_error(r, settings["n_chains"])
        exact = float(theory.multivariate_gaussian_errors(trace, r["sample_size"], policy, 0.0, settings["ddof"])[0][-1])
        agree &= abs(mc - exact) < 3 * se
        parts.append(f"{policy}, {schedule} M: {mc / unit:.3g} ± {se / unit:.2g} (exact {exact / unit:.3g}; "
                     f"{int(r['sample_size'].sum()):,} points drawn)")
    constant = float(runs["replace", "constant"]["mean_sq_mean_error"][-1])
    bounded = [float(runs[case]["mean_sq_mean_error"][-1]) for case in cases]
    held = bool(agree and constant > 5 * max(bounded))
    n = int(runs["replace", "constant"]["generation"][-1])
    measured = (f"d={settings['dim']}, M₀={settings['sample_size']}: E‖μ̂−μ‖² after {n} generations in units of "
                f"tr Σ/M₀ (π²/6 = {np.pi**2 / 6:.3f}) — " + "; ".join(parts)
                + f"; replace, constant M: {constant / unit:.3g}")
    exact_constant = float(theory.multivariate_gaussian_errors(trace, runs["replace", "constant"]["sample_size"],
                                                               "replace", 0.0, settings["ddof"])[0][-1])
    reason = "" if held else ("the simulation differs from the closed forms beyond Monte Carlo error" if not agree
                              else f"only {n} generations: constant M has not yet grown well past the bound"
                              if exact_constant <= 5 * max(bounded) else "constant M did not grow past the bound")
    return _from_check(measured, held, reason,
                       f"closed forms: E‖μ̂−μ‖² ≤ π²/6 · tr Σ/M₀ = {np.pi**2 / 6:.3f} under M_i = M₀(i+1)² or accumulate; linear growth at constant M",
                       f"{SE3}; constant M at least 5× the bounded ones (material)")


def _tails(profile, seed):
    settings = resolve_settings("prevention_tails", profile)
    return settings, {p: _prevention("prevention_tails", profile, seed, policy=p) for p in ("replace", "accumulate")}


def check_tails_kept(profile: str, seed: int) -> Verdict:
    settings, runs = _tails(profile, seed)
    levels = list(settings["tail_levels"])
    j = levels.index(0.9) if 0.9 in levels else len(levels) // 2
    replace, accumulate = runs["replace"], runs["accumulate"]
    q, n, chains = float(replace["tail_mass_true"][j]), int(replace["generation"][-1]), settings["n_chains"]
    lost = first_true(replace["tail_mass_q"][:, j, Quantile.MEDIAN] <= 0.1 * q)
    mean = float(replace["mean_tail_mass"][-1, j])
    # the all-or-nothing spread under replace is known exactly; a sample estimate of it moves with the mean
    mean_se = float(np.sqrt(theory.subset_mass_variance(q, replace["sample_size"], "replace")[-1] / chains))
    kept = float(accumulate["tail_mass_q"][-1, j, Quantile.MEDIAN])
    spread = float(accumulate["sd_tail_mass"][-1, j])
    exact_spread = float(np.sqrt(theory.subset_mass_variance(q, accumulate["sample_size"], "accumulate")[-1]))
    # replace: the typical chain loses the tail (median <= 10% of q) while the mean stays at q (martingale, 3 s.e.);
    # accumulate: the median keeps >= 80% of q, and the spread over chains is its closed form's within 10%
    held = bool(lost >= 0 and abs(mean - q) < 3 * mean_se and kept >= 0.8 * q
                and abs(spread / exact_spread - 1) < 0.1)
    measured = (f"mass beyond the original's {levels[j]:g} quantile (q = {q:.3g}), M={settings['sample_size']}: "
                f"under replace the median chain keeps ≤ 10% of it from generation "
                f"{lost if lost >= 0 else f'> {n}'} while the mean is {mean / q:.3g} q ± {mean_se / q:.2g} at generation "
                f"{n}; under accumulate the median keeps {kept / q:.3g} q, and the spread over chains is {spread:.3g} "
                f"against the exact {exact_spread:.3g}")
    if held:
        reason = ""
    elif lost < 0:
        reason = f"only {n} generations: the typical replace chain has not yet lost the tail"
    else:
        reason = "the tail mass differs from its closed-form mean or spread beyond Monte Carlo error"
    return _from_check(measured, held, reason,
                       f"Def. 2.1 (early collapse) and Gerstgrasser et al. 2024: under replace the tail mass q = {q:.3g} is lost by the typical chain while its mean stays q; under accumulate its spread over chains is {exact_spread:.3g}",
                       "mean within 3 standard errors of q (martingale); median ≤ 10% of q under replace and ≥ 80% under accumulate; the accumulate spread within 10% of its closed form")


def check_forget_time(profile: str, seed: int) -> Verdict:
    settings, runs = _tails(profile, seed)
    result, m = runs["replace"], settings["sample_size"]
    alive = result["alive_by_count"].astype(float)
    counts = np.arange(1, alive.shape[1] + 1)
    generations = result["generation"]
    cdf = theory.loss_time_cdf(m, counts, int(generations[-1]))

    def moments(lost_by):
        """Mean and second moment of the loss time among the values lost by the last generation."""
        weights = np.diff(lost_by, axis=0) / lost_by[-1]
        return (generations[1:, None] * weights).sum(axis=0), (generations[1:, None] ** 2 * weights).sum(axis=0)

    lost = 1 - alive / alive[0]
    used = (alive[0] > 0) & (lost[-1] > 0)
    simulated, second = moments(lost[:, used])
    se = np.sqrt((second - simulated**2) / (lost[-1, used] * alive[0, used]))  # values treated as independent
    exact = moments(cdf[:, used])[0]
    z = (simulated - exact) / se
    p_value = float(stats.chi2.sf(np.sum(z**2), z.size))
    slope, slope_cov = np.polyfit(counts[used], simulated, 1, w=1 / se, cov="unscaled")
    slope, slope_se = float(slope[0]), float(np.sqrt(slope_cov[0, 0]))
    # agrees with the exact two-state chain (χ² over the counts), and grows with the count beyond noise
    held = bool(p_value > 1e-3 and slope > 3 * slope_se)
    shown = ", ".join(f"k={k}: {s:.3g} ({e:.3g})" for k, s, e in zip(counts[used], simulated, exact)
                      if k in (1, 2, 4, 8, 16, 32))
    return _from_check(f"M={m}, replace: mean loss time of a value seen k times in the real data, simulated (exact) — "
                       f"{shown}; each extra count adds {slope:.3g} ± {slope_se:.2g} generations", held,
                       "the loss times differ from the exact two-state chain beyond chance"
                       if p_value <= 1e-3 else "too few values per count to see the loss time grow",
                       "Suresh et al. 2024: the time to forget grows roughly linearly with the count; the exact "
                       "two-state chain gives the values in brackets",
                       f"χ² test over k = 1..{counts[used][-1]} at p > 0.001 (here p = {p_value:.2g}); slope above 3 "
                       "standard errors")


def check_gmm_accumulate_bounded(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_gmm", profile)
    runs = {p: _prevention("prevention_gmm", profile, seed, policy=p) for p in ("replace", "accumulate")}
    n = int(runs["replace"]["generation"][-1])
    growth = float(runs["replace"]["kl_q"][-1, Quantile.MEDIAN] / runs["replace"]["kl_q"][0, Quantile.MEDIAN])
    ratio = float(runs["accumulate"]["mean_kl"][-1] / runs["accumulate"]["mean_kl"][0])
    # replace: the median KL grows at least tenfold; accumulate: the mean KL stays within π²/6 with 20% allowance
    # for Monte Carlo error and finite M
    held = bool(growth > 10 and ratio < np.pi**2 / 6 * 1.2)
    measured = (f"two components, M={settings['sample_size']}, {settings['n_chains']} chains: after {n} generations "
                f"the median KL(p₀‖p̂) under replace is {growth:.3g}× generation 0's; under accumulate the mean KL is "
                f"{ratio:.3g}× generation 0's (π²/6 = {np.pi**2 / 6:.3f})")
    reason = "" if held else (f"only {n} generations at M={settings['sample_size']}: replace's KL has not grown tenfold"
                              if growth <= 10 else "accumulate's KL grew past π²/6 times the first fit's")
    return _from_check(measured, held, reason,
                       f"Gerstgrasser et al. 2024; Dey & Donoho 2024: accumulate keeps the error within π²/6 = {np.pi**2 / 6:.3f} times the first fit's; replace grows by orders of magnitude",
                       "accumulate's mean KL within 1.2 π²/6 of the first fit's (EM at finite M is not the exact π²/6 setting); replace's median at least 10×")


def check_gmm_real_data_bounded(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("prevention_gmm_mix", profile)
    fraction = settings["real_fraction"]
    gamma = fraction[0] if isinstance(fraction, Sweep) else fraction  # the first of the profile's fractions
    mixed = _prevention("prevention_gmm_mix", profile, seed, real_fraction=gamma)
    replace = _prevention("prevention_gmm", profile, seed, policy="replace")
    n = int(mixed["generation"][-1])
    half, last = float(mixed["kl_q"][n // 2, Quantile.MEDIAN]), float(mixed["kl_q"][-1, Quantile.MEDIAN])
    below = float(replace["kl_q"][min(n, len(replace["kl_q"]) - 1), Quantile.MEDIAN]) / last
    # levelled off (the last half adds < 25%) and at least ten times below replace at the same generation
    held = bool(last < 1.25 * half and below > 10)
    measured = (f"two components, M={settings['sample_size']}, γ={gamma:g}: median KL(p₀‖p̂) "
                f"{float(mixed['kl_q'][0, Quantile.MEDIAN]):.3g} at generation 0, {half:.3g} at {n // 2}, "
                f"{last:.3g} at {n}; "
                f"replace's is {below:.3g}× larger")
    if held:
        reason = ""
    elif last >= 1.25 * half:
        reason = f"only {n} generations: the KL is still climbing towards its level" + (
            ", and replace's has not yet grown far past it" if below <= 10 else "")
    else:
        reason = "mixing in real data did not keep the KL well below replace's"
    return _from_check(measured, held, reason,
                       "Bertrand et al. 2024: with enough real data per generation the error levels off; the paper's LM setting 2 keeps 10%",
                       "levelled off: the last half adds < 25%; at least 10× below replace at the same generation")


def _gmm_blob(profile, seed):
    settings = resolve_settings("gmm", profile, data="blob", n_components=2)
    return settings, run_experiment("gmm", profile, seed, data="blob", n_components=2)


#: The paper's GMM horizon: SI Fig. 6's last panel and SI Fig. 8's axis reach generation 2000.
GMM_PAPER_GENERATIONS = 2000


def _component_pace_reference(settings, n):
    """ln of the spread ratio √(tr Σ/d) after ``n`` generations of a Gaussian fitted by maximum likelihood to the
    M/K points of one component (the closed form of log det Σ̂, divided by 2d)."""
    d, k, m = 2, settings["n_components"], settings["sample_size"]
    log_det = theory.log_det_moments(d, np.full(n + 1, m // k), 0)[0]
    return float((log_det[-1] - log_det[0]) / (2 * d))


def check_gmm_component_spread(profile: str, seed: int) -> Verdict:
    settings, result = _gmm_blob(profile, seed)
    n, m = int(result["generation"][-1]), settings["sample_size"]
    # median over chains of each component's √(tr Σ_k/d), (G+1, K)
    spread = result["component_std_q"][:, Quantile.MEDIAN, :]
    ratio = spread[-1] / spread[0]
    log_ratio = float(np.mean(np.log(ratio)))  # geometric mean over the components
    reference = _component_pace_reference(settings, n)
    pace = log_ratio / reference  # 1: at the reference pace; > 1 faster; < 1 slower
    material = n >= GMM_PAPER_GENERATIONS
    level = _level(material, 0.5 <= pace <= 2, log_ratio < np.log(0.9))
    if level is Level.DIRECTION:
        reason = (f"the components shrink {'faster' if pace > 2 else 'more slowly'} than the reference pace "
                  f"({pace:.2g}× its e-folds)")
    else:
        reason = {Level.NOT_RUN: f"only {n} generations: SI Fig. 6 shows the collapse at generation "
                                 f"{GMM_PAPER_GENERATIONS}",
                  Level.NOT_REPRODUCED: "the components did not shrink"}.get(level, "")
    return Verdict(level,
                   "SI Fig. 6 (one unseeded run; the figure shows no number): by generation 2000 the fitted "
                   "components have shrunk to a small fraction of their start, within axes fixed at [−3, 3]². "
                   f"Reference pace (closed form for an ML Gaussian fitted to M/K = {m // settings['n_components']} "
                   f"points): component spread × {np.exp(reference):.3g} after {n} generations",
                   f"blob, K=2, M={m}, {settings['n_chains']} chains: median spread √(tr Σ_k/d) of the smaller and "
                   f"the larger component {spread[0, 0]:.3g} and {spread[0, 1]:.3g} at generation 0, {spread[-1, 0]:.3g} "
                   f"and {spread[-1, 1]:.3g} at {n} (× {ratio[0]:.3g} and × {ratio[1]:.3g}; geometric mean "
                   f"× {np.exp(log_ratio):.3g}, {pace:.2g}× the reference's e-folds). The whole mixture's spread: × "
                   f"{float(result['spread_q'][-1, Quantile.MEDIAN] / result['spread_q'][0, Quantile.MEDIAN]):.3g}",
                   "the components' e-folds within a factor 2 of the reference's: EM moves points between components "
                   "and the weights drift, so the single-Gaussian rate is a guide to the pace, not an exact law",
                   reason)


def check_gmm_l2_magnitude(profile: str, seed: int) -> Verdict:
    settings, result = _gmm_blob(profile, seed)
    n = int(result["generation"][-1])
    l2 = result["l2_gen0_q"][:, Quantile.MEDIAN]
    spread = result["component_std_q"][-1, Quantile.MEDIAN, :]
    k = settings["n_components"]
    # a collapsed mixture q is far more peaked than p: ‖p − q‖² ≈ ∫q² ≈ Σ w_k²/(4π s_k²) in 2-D (w_k ≈ 1/K)
    implied = float(np.sum(1.0 / (k**2 * 4 * np.pi * spread**2)))
    tenth = max(n // 10, 1)
    growth = float(l2[-1] / l2[tenth])
    factor = float(l2[-1] / implied)
    material = n >= GMM_PAPER_GENERATIONS
    level = _level(material, 1 / 3 <= factor <= 3 and growth > 10, growth > 1)
    reason = {Level.NOT_RUN: f"only {n} generations: SI Fig. 8 runs to generation {GMM_PAPER_GENERATIONS}",
              Level.DIRECTION: f"the distance grows ({growth:.3g}×), but its size is {factor:.2g}× what the components' "
                               "spreads imply" if growth > 10 else f"the distance grows only {growth:.3g}×",
              Level.NOT_REPRODUCED: "the distance does not grow"}.get(level, "")
    return Verdict(level,
                   "SI Fig. 8 (log y axis; its numbers are not quoted in the book's sources): the squared L2 distance "
                   "to generation 0's fit grows by orders of magnitude over 2000 generations. Closed form for a "
                   "collapsed 2-D mixture: ‖p − q‖² ≈ ∫q² = Σ_k w_k²/(4π s_k²); from the median component spreads "
                   f"at generation {n}: {implied:.3g}",
                   f"blob, K=2: median squared L2 distance {l2[tenth]:.3g} at generation {tenth}, {l2[-1]:.3g} at {n} "
                   f"({growth:.3g}×; {factor:.2g}× the closed form)",
                   "a factor 3 either way (medians of a nonlinear function, unequal weights, the cross terms the "
                   "approximation drops), and more than tenfold growth from generation n/10",
                   reason)


def _gmm_expressivity(profile, seed):
    settings = resolve_settings("gmm_expressivity", profile)
    return settings, {(k, m): run_experiment("gmm_expressivity", profile, seed, n_components=k, sample_size=m)
                      for k in (1, 2) for m in sorted(settings["sample_size"])}


def check_gmm_expressivity_error(profile: str, seed: int) -> Verdict:
    settings, runs = _gmm_expressivity(profile, seed)
    floor, m = theory.expressivity_error(**gmm_truth(settings)), max(size for _, size in runs)
    one, two = (float(runs[k, m]["l2_truth_q"][0, Quantile.MEDIAN]) for k in (1, 2))
    smallest = float(runs[1, min(size for _, size in runs)]["l2_truth_q"][0, Quantile.MEDIAN])
    # K=1 stays at the closed-form floor (within 2%) at the largest M; K=2 is far below it (< 10%)
    held = bool(abs(one / floor - 1) < 0.02 and two < 0.1 * floor)
    return _from_check(f"two Gaussians, median squared L2 distance of the first fit to the truth at M={m}: K=1 "
                       f"{one:.3g} ({one / floor - 1:+.2%}; {smallest:.3g} at M={min(size for _, size in runs)}); "
                       f"K=2 {two:.3g}", held,
                       f"only M={m}: the statistical error is not yet small against the expressivity error",
                       f"§3 (expressivity error): the closed-form floor, the best single Gaussian's distance, {floor:.3g}; "
                       "two components reach ≈ 0",
                       "K=1 within 2% of the floor at the largest M (its statistical error is of order 1/M); K=2 below "
                       "10% of it")


def check_gmm_statistical_error_vanishes(profile: str, seed: int) -> Verdict:
    settings, runs = _gmm_expressivity(profile, seed)
    sizes = sorted({size for _, size in runs})
    parts, held = [], True
    for k in (1, 2):
        # generation 1 against generation 0
        step = np.array([float(runs[k, m]["l2_gen0_q"][1, Quantile.MEDIAN]) for m in sizes])
        slope = float(np.polyfit(np.log(sizes), np.log(step), 1)[0])
        held &= bool(abs(slope + 1) < 0.25)
        parts.append(f"K={k}: {step[0]:.3g} at M={sizes[0]}, {step[-1]:.3g} at M={sizes[-1]} (log-log slope {slope:.2f})")
    return _from_check("median squared L2 distance that one more generation adds: " + "; ".join(parts), held,
                       f"{settings['n_chains']} chains per M give too noisy a median for the slope, or the error does "
                       "not fall like 1/M", "§3: the statistical approximation error vanishes as M → ∞; a fit's error "
                       "falls like 1/M (log-log slope −1)", "slope within ±0.25 of −1 (the noise of a median over few "
                       "chains per M)")


def _gmm_policies(profile, seed):
    settings = resolve_settings("gmm_policies", profile)
    return settings, {policy: run_experiment("gmm_policies", profile, seed, policy=policy)
                      for policy in ("replace", "accumulate", "mix")}


def check_gmm_policies_keep_variance(profile: str, seed: int) -> Verdict:
    settings, runs = _gmm_policies(profile, seed)
    total = mixture_total_variance(**gmm_truth(settings))
    replace, n = runs["replace"], int(runs["replace"]["generation"][-1])
    mean = {policy: float(r["mean_total_variance"][-1]) for policy, r in runs.items()}
    se = {policy: float(r["sd_total_variance"][-1]) / np.sqrt(settings["n_chains"]) for policy, r in runs.items()}
    exact = float(theory.expected_total_variance(total, replace["sample_size"], settings["reg_covar"])[-1])
    # replace: below half the truth's beyond 3 standard errors, and at the exact rate; the others within 20%
    collapsed = mean["replace"] + 3 * se["replace"] < 0.5 * total and abs(mean["replace"] - exact) < 3 * se["replace"]
    kept = all(abs(mean[p] / total - 1) < 0.2 for p in ("accumulate", "mix"))
    shown = ", ".join(f"{p} {mean[p] / total:.3g} ± {se[p] / total:.2g}" for p in ("replace", "accumulate", "mix"))
    if collapsed and kept:
        reason = ""
    elif exact >= 0.5 * total:
        reason = (f"only {n} generations at M={settings['sample_size']}: under replace the trace shrinks by (M−1)/M "
                  f"per generation, to {exact / total:.0%} of the truth's by now")
    elif not collapsed:
        reason = "the replace runs differ from the exact expectation beyond Monte Carlo error"
    else:
        reason = "accumulated or fresh real data did not keep the variance within 20% of the truth's"
    return _from_check(f"two Gaussians, K=2, M={settings['sample_size']}: mean total variance tr C over the truth's "
                       f"after {n} generations — {shown}", bool(collapsed and kept), reason,
                       f"closed form under replace: tr C shrinks by (M−1)/M per generation, to {exact / total:.3g} of "
                       "the truth's; Gerstgrasser et al. 2024 / Bertrand et al. 2024: accumulate and 10% real data keep it",
                       f"replace: {SE3}, and below half the truth's; accumulate and mix within 20% of the truth's (EM "
                       "at finite M)")


def _vae(profile, seed, policy="replace"):
    """The VAE run of ``policy``, from the chapter's whole sweep (:func:`collapse_lib.experiments.vae.vae_chapter_runs`:
    both policies side by side), so that a build that reaches the scorecard before the VAE chapter (``make book``:
    the chapters in alphabetical order) computes the two runs at once instead of one after the other."""
    return vae_chapter_runs(profile, [seed])[(policy, seed)]


#: What SI Fig. 7 / arXiv v2 Fig. 9 show (samples at generations 5, 10 and 20): varied digits at generation 5,
#: a few modes by generation 20. The paper gives no number; these readings are the book's.
VAE_EARLY, VAE_LATE = 5, 20
VAE_PACE_TEXT = ("the paper publishes images, not numbers: 'varied' is read as at least 75% of generation 0's value "
                 "at generation 5, 'collapsed' as at most {late:.0%} of it by generation 20")


def _pace_verdict(series, early_floor, late_ceiling, n, what):
    """Level and reason of a VAE pace claim: ``series[5] >= early_floor * series[0]`` (not too fast) and
    ``series[20] <= late_ceiling * series[0]`` (not too weak)."""
    if n < VAE_LATE:
        return Level.NOT_RUN, f"only {n} generations: the paper's figure reaches generation {VAE_LATE}"
    early, late = series[VAE_EARLY] / series[0], series[VAE_LATE] / series[0]
    fast, weak = early < early_floor, late > late_ceiling
    if not fast and not weak:
        return Level.REPRODUCED, ""
    if late >= 0.95:
        return Level.NOT_REPRODUCED, f"the {what} did not fall"
    if fast:
        return Level.DIRECTION, (f"too fast: by generation {VAE_EARLY} the {what} is already {early:.0%} of generation "
                                 f"0's (the paper's samples are still varied there)")
    return Level.DIRECTION, f"too weak: at generation {VAE_LATE} the {what} is still {late:.0%} of generation 0's"


def check_vae_digits_collapse(profile: str, seed: int) -> Verdict:
    result = _vae(profile, seed)
    entropy = result["class_entropy"]
    n = int(result["generation"][-1])
    counts = result["class_counts"][-1]
    top2 = float(np.sort(counts)[-2:].sum() / counts.sum())
    level, reason = _pace_verdict(entropy, 0.75, 0.6, n, "entropy of the digits")
    shown = ", ".join(f"{entropy[g]:.2f} at {g}" for g in sorted({0, VAE_EARLY, VAE_LATE, n}) if g <= n)
    return Verdict(level,
                   "SI Fig. 7 / arXiv v2 Fig. 9 (sample grids at generations 5, 10, 20): varied digits at generation 5, "
                   "converging to a few modes by generation 20",
                   f"entropy of the digits a classifier reads in the samples (nats; log 10 = {np.log(10):.2f}, real "
                   f"test images {float(result['real_class_entropy']):.2f}): {shown}; the two commonest digits take "
                   f"{top2:.0%} of the last generation's samples",
                   VAE_PACE_TEXT.format(late=0.6) + " (about 4 equally common digits)", reason)


def check_vae_latents_concentrate(profile: str, seed: int) -> Verdict:
    result = _vae(profile, seed)
    std, q = result["latent_std"], result["latent_q"]
    n = int(result["generation"][-1])
    # 1%-99% range of the generation-0 encoder's latent means
    width = q[:, LatentQuantile.Q99] - q[:, LatentQuantile.Q01]
    level, reason = _pace_verdict(np.minimum(std / std[0], width / width[0]), 0.75, 0.5, n, "latent spread")
    shown = ", ".join(f"{std[g]:.3f} (range {width[g]:.2f}) at {g}" for g in sorted({0, VAE_EARLY, VAE_LATE, n})
                      if g <= n)
    return Verdict(level,
                   "arXiv v2 Fig. 8 (KDEs of the latent means per generation): later generations lose the tails and "
                   "pile up near the mean, degrading over the 20 generations of SI Fig. 7",
                   f"sd of the samples' latent means under the generation-0 encoder: {shown} (real test images "
                   f"{float(result['real_latent_std']):.3f})",
                   VAE_PACE_TEXT.format(late=0.5) + ", for both the sd and the 1%–99% range", reason)


def _language_model(profile, seed):
    n_seeds = resolve_settings("language_model", profile, setting=1)["n_seeds"]
    seeds = range(seed, seed + n_seeds)
    return {setting: [run_experiment("language_model", profile, s, setting=setting) for s in seeds]
            for setting in (1, 2)}


def _lm_ablation(profile, seed):
    """The repetition-penalty ablation's run (setting 1, penalty 2, one seed) and the main run it is compared with."""
    return (run_experiment("language_model", profile, seed, setting=1),
            run_experiment("language_model", profile, seed, setting=1, repetition_penalty=2.0))


def _mean_perplexity(results) -> np.ndarray:
    return np.mean([r["test_perplexity"] for r in results], axis=0)


#: Nature Fig. 1b (right): OPT-125m fine-tuned on WikiText-2 reaches test perplexity 34 (115 zero-shot); nine
#: generations later, trained only on generated text, it is about 20-28 points worse.
LM_PAPER = dict(zero_shot=115.0, real=34.0, rise=(20.0, 28.0), generations=9)
LM_RISE = tuple(r / LM_PAPER["real"] for r in LM_PAPER["rise"])  # relative rise, about 59% to 82%


def check_lm_perplexity_rises(profile: str, seed: int) -> Verdict:
    runs = _language_model(profile, seed)[1]
    ppl = np.array([r["test_perplexity"] for r in runs])  # (seeds, generations)
    rel = ppl / ppl[:, :1] - 1  # relative rise over each seed's generation-0 model
    n = ppl.shape[1] - 1
    h = min(n, LM_PAPER["generations"])
    mean = rel.mean(axis=0)
    se = rel.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros(n + 1)
    # the paper's band at the run's horizon: steady (linear) growth to 59-82% at generation 9
    low, high = (r * h / LM_PAPER["generations"] for r in LM_RISE)
    in_band = low - 3 * se[h] <= mean[h] <= high + 3 * se[h]
    steps = np.diff(mean[1:h + 1])
    steady = bool(np.all(steps > -3 * np.maximum(se[2:h + 1], 1e-3)) and mean[h] - mean[1] >= mean[h] / 3)
    rises = mean[h] > 3 * se[h] and mean[h] > 0.01
    level = _level(n >= 3, in_band and steady, rises)
    middle = float(np.mean(LM_RISE)) * h / LM_PAPER["generations"]
    reason = {Level.NOT_RUN: f"only {n} generations: a steady rise needs at least 3",
              Level.DIRECTION: (f"the rise is {mean[h] / middle:.2g}× the paper's at generation {h}"
                                + ("" if steady else ", and it is not steady (it comes at once, or falls back)")),
              Level.NOT_REPRODUCED: "the test perplexity does not rise"}.get(level, "")
    shown = ", ".join(f"{m:+.0%}" for m in mean[1:])
    return Verdict(level,
                   f"Nature Fig. 1b (right): OPT-125m fine-tuned on real text, test perplexity {LM_PAPER['real']:g}; "
                   f"each generation trained only on the previous one's text is steadily worse, about "
                   f"{LM_PAPER['rise'][0]:g}–{LM_PAPER['rise'][1]:g} points worse after {LM_PAPER['generations']} "
                   f"(a relative rise of {LM_RISE[0]:.0%}–{LM_RISE[1]:.0%}; {low:.0%}–{high:.0%} at generation {h} "
                   "at a steady pace)",
                   f"setting 1, {len(runs)} seed{'s' if len(runs) > 1 else ''}: test perplexity {ppl[:, 0].mean():.1f} "
                   f"for the real-data model; relative rise at generations 1–{n}: {shown} (± {se[h]:.1%} at {h})",
                   "the paper's relative band (the book's model is not OPT-125m, so relative effects are compared), "
                   "scaled to the run's horizon assuming the steady pace the paper describes, widened by 3 standard "
                   "errors over the seeds; steady: no generation falls back by more than 3 standard errors, and at "
                   "least a third of the rise comes after generation 1",
                   reason)


def check_lm_real_data_helps(profile: str, seed: int) -> Verdict:
    runs = _language_model(profile, seed)
    rise = {setting: _mean_perplexity(results)[-1] - _mean_perplexity(results)[0]
            for setting, results in runs.items()}
    share = rise[2] / rise[1] if rise[1] > 0 else np.inf
    level = (Level.NOT_REPRODUCED if rise[1] <= 0 or share >= 0.9 else
             Level.REPRODUCED if share <= 1 / 3 else Level.DIRECTION)
    reason = {Level.DIRECTION: f"setting 2's rise is {share:.0%} of setting 1's: smaller, but not minor",
              Level.NOT_REPRODUCED: "setting 1 does not degrade" if rise[1] <= 0 else
              f"setting 2's rise is {share:.0%} of setting 1's"}.get(level, "")
    if level is not Level.REPRODUCED and rise[1] > 0 and profile != "paper":
        reason += ("; at this scale each generation fine-tunes a small model on a few hundred blocks, so the 10% real "
                   "blocks are a few dozen and the model's own text dominates what it learns")
    return Verdict(level,
                   "Nature Fig. 1c against 1b: with 10% of the original data kept (10 epochs) only minor degradation, "
                   f"against {LM_PAPER['rise'][0]:g}–{LM_PAPER['rise'][1]:g} points without it (Fig. 1c's rise is "
                   "not quoted as a number)",
                   f"rise of the mean test perplexity from the real-data model to the last generation: {rise[1]:.2f} "
                   f"in setting 1, {rise[2]:.2f} in setting 2"
                   + (f" ({share:.0%} of setting 1's)" if np.isfinite(share) else ""),
                   "'minor' read as at most a third of setting 1's rise; smaller than 90% of it counts as the "
                   "direction", reason)


def _pooled_perplexities(results, generation):
    return data_perplexities(results, generation)


def _shares_against_generation_1(results, quantile, above):
    """For each generation g >= 2: the share of its blocks beyond generation 1's ``quantile`` of perplexity (under the
    generation-0 model), and the standard error of that share under no change. The cut is itself estimated from
    generation 1's blocks, so the error counts both samples: p(1−p)(1/n_g + 1/n_1). Returns (cut, the share
    expected under no change, rows (g, share, se), the standard error of the pooled share of all g >= 2)."""
    first = _pooled_perplexities(results, 1)
    cut = np.quantile(first, quantile)
    base = 1 - quantile if above else quantile
    out, total = [], 0
    for g in range(2, len(results[0]["data_perplexity"])):
        blocks = _pooled_perplexities(results, g)
        share = float(np.mean(blocks > cut if above else blocks < cut))
        out.append((g, share, float(np.sqrt(base * (1 - base) * (1 / blocks.size + 1 / first.size)))))
        total += blocks.size
    pooled_se = float(np.sqrt(base * (1 - base) * (1 / max(total, 1) + 1 / first.size)))
    return cut, base, out, pooled_se


def _generation_by_generation(rows, base, pooled_se):
    """Level of a claim that every generation g >= 2 exceeds ``base`` by 3 standard errors: reproduced if each
    does; direction only if the last does, or all of them together do; otherwise not reproduced."""
    if not rows:
        return Level.NOT_RUN
    significant = [share - base > 3 * se for _, share, se in rows]
    if all(significant):
        return Level.REPRODUCED
    if significant[-1] or np.mean([share for _, share, _ in rows]) - base > 3 * pooled_se:
        return Level.DIRECTION
    return Level.NOT_REPRODUCED


def check_lm_low_perplexity_pileup(profile: str, seed: int) -> Verdict:
    runs = _language_model(profile, seed)[1]
    cut, base, rows, pooled_se = _shares_against_generation_1(runs, 0.25, above=False)
    level = _generation_by_generation(rows, base, pooled_se)
    return Verdict(level,
                   "Nature Fig. 1b (left): over the generations, the text piles up at low perplexity under the "
                   "generation-0 model (histograms; no number)",
                   f"setting 1: share of each generation's blocks below generation 1's lower quartile ({cut:.3g}; "
                   "generation 1 is model 0's own text, 25% by construction) — "
                   + ", ".join(f"g={g}: {share:.0%}" for g, share, _ in rows),
                   "every generation g ≥ 2 above 25% by 3 binomial standard errors (of both samples: the quartile is estimated too)",
                   {Level.NOT_RUN: "no generation after the first at this profile",
                    Level.DIRECTION: "some later generations pile up at low perplexity, not all beyond noise",
                    Level.NOT_REPRODUCED: "later generations are not more probable under the generation-0 model than "
                                          "its own text"}.get(level, ""))


def check_lm_long_tail(profile: str, seed: int) -> Verdict:
    runs = _language_model(profile, seed)[1]
    cut, base, rows, pooled_se = _shares_against_generation_1(runs, 0.95, above=True)
    level = _generation_by_generation(rows, base, pooled_se)
    return Verdict(level,
                   "Nature Fig. 1b (left): later generations also grow a longer tail of text the generation-0 model "
                   "finds improbable (histograms; no number)",
                   f"setting 1: share of each generation's blocks above generation 1's 95th percentile ({cut:.3g}) — "
                   + ", ".join(f"g={g}: {share:.1%}" for g, share, _ in rows),
                   "every generation g ≥ 2 above 5% by 3 binomial standard errors (of both samples: the percentile is estimated too)",
                   {Level.NOT_RUN: "no generation after the first at this profile",
                    Level.DIRECTION: "a tail appears, but not in every later generation beyond noise",
                    Level.NOT_REPRODUCED: "no longer tail than model 0's own text"}.get(level, ""))


def check_lm_magnitudes(profile: str, seed: int) -> Verdict:
    runs = _language_model(profile, seed)[1]
    base = float(np.mean([r["base_test_perplexity"] for r in runs]))
    real = float(np.mean([r["test_perplexity"][0] for r in runs]))
    ratio, paper = real / base, LM_PAPER["real"] / LM_PAPER["zero_shot"]
    level = (Level.REPRODUCED if abs(ratio - paper) <= 0.1 else Level.DIRECTION if ratio < 1
             else Level.NOT_REPRODUCED)
    return Verdict(level,
                   f"Nature Fig. 1b: fine-tuning OPT-125m on WikiText-2 takes the test perplexity from "
                   f"{LM_PAPER['zero_shot']:g} (zero-shot) to {LM_PAPER['real']:g}, a ratio of {paper:.2f}",
                   f"setting 1, {len(runs)} seed{'s' if len(runs) > 1 else ''}: {base:.1f} for the base model, "
                   f"{real:.1f} after fine-tuning on the real blocks (ratio {ratio:.2f})",
                   "the ratio within ±0.1 of the paper's (the book's CPU model is not OPT-125m: its base is pretrained "
                   "on the rest of WikiText-2's training text, never on the blocks it is then fine-tuned on, so the "
                   "relative gain is compared; the paper gives one run's numbers)",
                   {Level.DIRECTION: f"fine-tuning helps, but the ratio is {ratio:.2f} against {paper:.2f}",
                    Level.NOT_REPRODUCED: "fine-tuning on the real blocks does not lower the test perplexity"}.get(level, ""))


#: Nature / arXiv ablation: a repetition penalty of 2 roughly doubles the perplexity.
LM_PENALTY_RATIO = 2.0


def check_lm_repetition_ablation(profile: str, seed: int) -> Verdict:
    main, penalised = _lm_ablation(profile, seed)
    n = len(main["test_perplexity"]) - 1
    paper = ("the paper's ablation: with a repetition penalty of 2 the perplexity roughly doubles "
             f"(×{LM_PENALTY_RATIO:g}; which perplexity, test or generated-data, is UNVERIFIED in the book's sources: "
             "the test perplexity is compared)")
    tolerance = "×1.5 to ×2.5 ('roughly doubles', one seed); above ×1.05 counts as the direction"
    if n < 1:
        return Verdict(Level.NOT_RUN, paper, f"{n} generations", tolerance, "no generation trained on generated text")
    ratio = float(np.mean(penalised["test_perplexity"][1:] / main["test_perplexity"][1:]))
    level = (Level.REPRODUCED if 1.5 <= ratio <= 2.5 else Level.DIRECTION if ratio > 1.05
             else Level.NOT_REPRODUCED)
    return Verdict(level, paper,
                   f"setting 1, seed {seed}: test perplexity with penalty 2 over penalty 1, mean over generations 1–{n}: "
                   f"×{ratio:.3g} (last generation {penalised['test_perplexity'][-1]:.1f} against "
                   f"{main['test_perplexity'][-1]:.1f})",
                   tolerance,
                   {Level.DIRECTION: f"the penalty raises the perplexity ×{ratio:.3g}, not about ×2",
                    Level.NOT_REPRODUCED: "the penalty does not raise the perplexity"}.get(level, ""))


def _four_grams(tokens) -> set:
    tokens = [int(t) for t in np.asarray(tokens).ravel()]
    return {tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)}


def check_lm_example_1(profile: str, seed: int) -> Verdict:
    result = _language_model(profile, seed)[1][0]
    n = len(result["test_perplexity"]) - 1
    paper = ("Nature Example 1 (one prompt, continuations at generations 0, 1, 5, 9): generation 0 continues "
             "fluently and on topic; later generations drift to unrelated text with repeated phrases (text, no number)")
    tolerance = ("fluent: at least 90% of the real text's distinct-4-gram fraction; drift: the last continuation "
                 "shares under half its 4-grams with generation 0's, or its generation's text loses 10% of the "
                 "distinct 4-grams")
    if n < 2:
        return Verdict(Level.NOT_RUN, paper, f"{n} generation(s)", tolerance,
                       f"only {n} generation(s): the drift needs at least 2")
    distinct = result["data_distinct_4grams"]  # generation g: the text model g−1 wrote (g = 0: the real blocks)
    fluent = float(distinct[1] / distinct[0])  # model 0's text against the real text
    first, last = _four_grams(result["example_tokens"][0]), _four_grams(result["example_tokens"][-1])
    shared = len(first & last) / max(len(last), 1)
    repeats = float(distinct[-1] / distinct[1])
    drift = shared < 0.5 or repeats < 0.9
    level = (Level.NOT_REPRODUCED if not drift else Level.REPRODUCED if fluent >= 0.9 else Level.DIRECTION)
    return Verdict(level, paper,
                   f"seed {seed}, setting 1: model 0's text keeps {fluent:.0%} of the real blocks' distinct-4-gram "
                   f"fraction ({distinct[1]:.2f} against {distinct[0]:.2f}); the example's continuation at generation "
                   f"{n} shares {shared:.0%} of its 4-grams with generation 0's, and generation {n}'s text keeps "
                   f"{repeats:.0%} of model 0's distinct-4-gram fraction",
                   tolerance,
                   {Level.DIRECTION: f"the text drifts, but model 0 already repeats itself ({fluent:.0%} of the real "
                                     "text's distinct 4-grams)",
                    Level.NOT_REPRODUCED: "the continuation does not drift"}.get(level, ""))


# ---------------------------------------------------------------------------------------------
# The debate (chapter "debate"): each position against its closed form
# ---------------------------------------------------------------------------------------------

def _debate(name, profile, seed, **settings):
    """One run of a debate experiment and its validated settings."""
    from .experiments import get_experiment
    validated = get_experiment(name).validate(resolve_settings(name, profile, **settings))
    return validated, run_experiment(name, profile, seed, **settings)


def check_strong_collapse(profile: str, seed: int) -> Verdict:
    fraction = 0.1
    s, r = _debate("debate_strong", profile, seed, synthetic_fraction=fraction)
    n = np.asarray(s["sample_sizes"])
    closed = theory.strong_collapse_test_error(s["noise_sd"], s["dim"], n, s["shift"], fraction)
    mc, se = r["mean_test_error"], r["sd_test_error"] / np.sqrt(s["n_chains"])
    plateau = fraction**2 * s["shift"] ** 2
    fit = n >= 20 * s["dim"]  # where the first-order closed form holds
    agree = bool(np.all(np.abs(mc[fit] - closed[fit]) < 3 * se[fit]))
    clean_noise = s["noise_sd"] ** 2 * s["dim"] / (n[-1] - s["dim"] - 1)
    flat = abs((mc[-1] - clean_noise) / plateau - 1) < 0.1  # what synthetic labels add stays at the plateau
    material = clean_noise < 0.5 * plateau  # the clean error has fallen below the plateau by the largest n
    level = _level(material, agree and flat, flat or mc[-1] > 0.5 * plateau)
    return Verdict(level,
                   f"Dohmatob et al. 2025 (qualitative: a fixed share of synthetic data keeps the error from falling "
                   f"with n). Closed form at p = {fraction}, ‖Δ‖ = {s['shift']:g}, d = {s['dim']}: plateau "
                   f"p²‖Δ‖² = {plateau:.3g}; {closed[-1]:.3g} at n = {n[-1]}",
                   f"{s['n_chains']} training sets per n: {mc[-1]:.3g} ± {se[-1]:.2g} at n = {n[-1]} "
                   f"(clean data: σ²d/(n−d−1) = {clean_noise:.2g})",
                   f"{SE3}, at every n ≥ 20d (the closed form is first order in 1/n); and what the synthetic labels "
                   "add to the clean error, within 10% of the plateau at the largest n",
                   {Level.NOT_RUN: "the largest n is too small for the clean error to fall below the plateau",
                    Level.DIRECTION: "the error stalls, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the error keeps falling below the plateau"}.get(level, ""))


def check_tail_cut_plateau(profile: str, seed: int) -> Verdict:
    cutoff = 100
    s, cut = _debate("debate_tails", profile, seed, cutoff=cutoff)
    _, mixed = _debate("debate_tails", profile, seed, cutoff=cutoff, clean_fraction=0.1)
    p = zipf_probabilities(s["n_facts"], s["exponent"])
    lost = float(p[cutoff:].sum())
    sizes = s["sample_sizes"]
    closed_cut = theory.tail_cut_test_error(p, sizes, cutoff)
    closed_mix = theory.tail_cut_test_error(p, sizes, cutoff, 0.1)
    def se(r, clean):  # the observed spread, or the closed form's bound where every chain gave the same error;
        bound = theory.tail_cut_error_sd(p, sizes, cutoff, clean)  # plus float rounding of a sum of 10^4 terms
        return np.maximum(r["sd_test_error"], bound) / np.sqrt(s["n_chains"]) + 1e-12

    agree = bool(np.all(np.abs(cut["mean_test_error"] - closed_cut) < 3 * se(cut, 0.0))
                 and np.all(np.abs(mixed["mean_test_error"] - closed_mix) < 3 * se(mixed, 0.1)))
    plateau = abs(cut["mean_test_error"][-1] / lost - 1) < 0.05
    recovers = mixed["mean_test_error"][-1] < 0.9 * lost
    material = closed_cut[-1] < 1.05 * lost and closed_mix[-1] < 0.9 * lost
    level = _level(material, agree and plateau and recovers, plateau)
    return Verdict(level,
                   f"Dohmatob et al. 2024 (Tale of Tails): cutting the tail at k₀ makes the learning curve plateau at "
                   f"the lost mass, about k₀^−(β−1); mixing clean data back lets it fall again. Closed form "
                   f"Σp_k(1−q_k)^T, Zipf β = {s['exponent']:g}, K = {s['n_facts']}, k₀ = {cutoff}: plateau "
                   f"{lost:.3g}; with 10% clean data {closed_mix[-1]:.3g} at T = {sizes[-1]}",
                   f"{s['n_chains']} training sets per T: cut {cut['mean_test_error'][-1]:.3g}, 10% clean "
                   f"{mixed['mean_test_error'][-1]:.3g} at T = {sizes[-1]}",
                   f"{SE3} (the larger of the observed spread and the closed form's bound on it), at every T; the "
                   "plateau within 5% of the lost mass",
                   {Level.NOT_RUN: "too few samples for the curves to reach the plateau",
                    Level.DIRECTION: "the curve plateaus, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "no plateau at the lost mass"}.get(level, ""))


def check_temperature(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("debate_temperature", profile)
    rows, agree, directions = [], True, True
    p = zipf_probabilities(settings["n_states"], settings["exponent"])
    h0 = float(metrics.entropy(p))
    n = settings["n_generations"]
    early = min(3, n)
    for tau in (0.8, 1.25):
        _, r = _debate("debate_temperature", profile, seed, temperature=tau)
        limit = float(metrics.entropy(theory.tempered(p, tau, early)))
        agree &= abs(float(r["mean_entropy"][early]) - limit) < 0.1
        last = float(r["mean_entropy"][-1])
        directions &= last < 0.05 * h0 if tau < 1 else last > h0 + 0.3
        rows.append(f"τ = {tau}: {r['mean_entropy'][early]:.3f} nats at generation {early} "
                    f"(infinite-sample {limit:.3f}), {last:.3g} at generation {n}")
    level = _level(n >= 10, agree and directions, directions)
    return Verdict(level,
                   f"Marchi et al. 2024: τ < 1 collapses to a point, τ > 1 spreads towards uniform. Closed form "
                   f"(infinite samples): p_g ∝ p₀^(1/τ^g); original entropy {h0:.3f} nats, log K = "
                   f"{np.log(settings['n_states']):.3f}",
                   f"{settings['n_chains']} chains, M = {settings['sample_size']}: " + "; ".join(rows),
                   "0.1 nats at generation 3 (the finite-sample run drifts like Wright–Fisher on top of the map); at "
                   "the end entropy below 5% of the original (τ < 1), or 0.3 nats above it (τ > 1)",
                   {Level.NOT_RUN: "fewer than 10 generations",
                    Level.DIRECTION: "the directions hold, but the early generations are off the infinite-sample map",
                    Level.NOT_REPRODUCED: "the entropy does not move the predicted way"}.get(level, ""))


def check_biased_sampling(profile: str, seed: int) -> Verdict:
    s, alone = _debate("debate_bias", profile, seed, policy="replace")
    _, fresh = _debate("debate_bias", profile, seed, policy="mix", real_fraction=0.2)
    n, a = s["n_generations"], s["truncation"]
    _, t_alone = theory.biased_sampling_moments(1.0, s["sample_size"], n, a, 0.0, s["ddof"])
    _, t_fresh = theory.biased_sampling_moments(1.0, s["sample_size"], n, a, 0.2, s["ddof"])
    g = min(5, n)
    se = lambda r, i: r["sd_variance"][i] / np.sqrt(s["n_chains"])  # noqa: E731
    agree = (abs(alone["mean_variance"][g] - t_alone[g]) < 3 * se(alone, g)
             and abs(fresh["mean_variance"][-1] - t_fresh[-1]) < 3 * se(fresh, -1))
    direction = alone["mean_variance"][-1] < 0.01 and fresh["mean_variance"][-1] > 0.2
    level = _level(t_alone[-1] < 0.01, bool(agree and direction), bool(direction))
    v = theory.truncated_variance_factor(a)
    return Verdict(level,
                   f"Alemohammad et al. 2024 (qualitative: without fresh data, sampling for quality loses diversity; "
                   f"enough fresh real data prevents it). Closed form, truncation ±{a:g}σ̂ (v = {v:.3f} per "
                   f"generation), M = {s['sample_size']}: E σ̂² = {t_alone[g]:.3g} at generation {g}; with 20% "
                   f"fresh data {t_fresh[-1]:.3g} at generation {n}",
                   f"{s['n_chains']} chains: {alone['mean_variance'][g]:.3g} at generation {g} "
                   f"({alone['mean_variance'][-1]:.2g} at {n}); with 20% fresh data {fresh['mean_variance'][-1]:.3g}", SE3,
                   {Level.NOT_RUN: "too few generations for the variance to fall below 1%",
                    Level.DIRECTION: "the directions hold, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "diversity does not collapse without fresh data, or fresh data do not "
                                          "keep it"}.get(level, ""))


def check_self_correction(profile: str, seed: int) -> Verdict:
    lams = sorted(resolve_settings("debate_correction", profile)["correction"])
    strongest = lams[-1]
    rows, agree = [], True
    runs = {}
    for lam, delta in ((0.0, 0.0), (strongest, 0.0), (strongest, 0.5)):
        s, r = _debate("debate_correction", profile, seed, correction=lam, corrector_bias=delta)
        exact = theory.self_corrected_mean_error(1.0, s["sample_size"], s["n_generations"], lam, delta, s["ddof"])
        # without correction the squared error is heavy-tailed beyond g ~ M (its Monte Carlo mean falls short of
        # the expectation): compare there at g = min(n, M), as the Gaussian chapter does
        g = s["n_generations"] if lam > 0 else min(s["n_generations"], s["sample_size"])
        mc, se = float(r["mean_sq_mean_error"][g]), float(r["sd_sq_mean_error"][g]) / np.sqrt(s["n_chains"])
        agree &= abs(mc - exact[g]) < 3 * se
        runs[lam, delta] = (s, r, exact)
        rows.append(f"λ = {lam:g}, δ = {delta:g}: {mc:.3g} ± {se:.2g} at generation {g} (exact {exact[g]:.3g})")
    s, r, exact = runs[0.0, 0.0]
    n, m = s["n_generations"], s["sample_size"]
    grows = float(r["mean_sq_mean_error"][min(n, m)]) > 5 * float(r["mean_sq_mean_error"][0])
    bound = 1 / (m * strongest * (2 - strongest)) if strongest > 0 else np.inf
    stable = float(runs[strongest, 0.0][1]["mean_sq_mean_error"][-1]) < 1.5 * bound
    biased = abs(float(runs[strongest, 0.5][1]["mean_sq_mean_error"][-1]) - 0.25 - bound) < 0.5 * 0.25
    material = n * strongest >= 3 and min(n, m) >= 10  # several correction time scales, and room to grow without
    direction = grows and stable and biased
    level = _level(material, bool(agree and direction), direction)
    return Verdict(level,
                   "Gillman et al. 2024 (qualitative: self-correcting the samples makes the loop exponentially more "
                   "stable). Exact moments of the book's corrector (optimal-transport step of strength λ towards "
                   f"N(δ, 1)), M = {m}: E μ̂² grows like (g+1)/M at λ = 0, stays near δ² + 1/(Mλ(2−λ)) "
                   f"= {bound:.3g} (+ 0.25 at δ = 0.5) for λ = {strongest:g}",
                   f"{s['n_chains']} chains per run: " + "; ".join(rows), SE3 + "; the λ = 0 run at g ≤ M (heavy tails)",
                   {Level.NOT_RUN: "too few generations for the correction to act",
                    Level.DIRECTION: "the directions hold (growth without, bounded with, the corrector's bias "
                                     "inherited), but off the exact moments beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the corrected loop does not stay bounded, or the biased corrector does not "
                                          "pull it to its view"}.get(level, ""))


def check_fixed_real_bounded(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("debate_fixed_real", profile)
    rows, agree, bounded = [], True, True
    s = None
    for real in settings["real_sample_size"]:
        s, r = _debate("debate_fixed_real", profile, seed, real_sample_size=real)
        trace, _ = theory.gaussian_error_unit(s)
        m, _ = theory.multivariate_gaussian_errors(trace, gaussian_sample_sizes(s), "fixed-real", 0.0,
                                                   s["ddof"])
        m_star, _ = theory.fixed_real_limit(trace, real, s["sample_size"], s["ddof"])
        mc, se = float(r["mean_sq_mean_error"][-1]), float(r["sd_sq_mean_error"][-1]) / np.sqrt(s["n_chains"])
        agree &= abs(mc - m[-1]) < 3 * se
        bounded &= mc < 2 * trace / real
        rows.append(f"r = {real}: {mc * real / trace:.3f} ± {se * real / trace:.2g} (closed form {m[-1] * real / trace:.3f}, "
                    f"limit {m_star * real / trace:.3f})")
    n = s["n_generations"]
    level = _level(n >= 10, bool(agree and bounded), bool(bounded))
    return Verdict(level,
                   "Bertrand et al. 2024: retraining on a fixed real set plus generated data stays near the first "
                   "model. Closed form (this book): E‖μ̂−μ‖² → tr Σ/r + λt*/(n(1−λ²)), between 1 and 2 times the real "
                   "set's own error tr Σ/r, for every generated share λ",
                   f"d = {s['dim']}, M = {s['sample_size']} generated, {s['n_chains']} chains, {n} generations; "
                   "E‖μ̂−μ‖² in units of tr Σ/r: " + "; ".join(rows), SE3,
                   {Level.NOT_RUN: "fewer than 10 generations",
                    Level.DIRECTION: "bounded, but off the closed form beyond Monte Carlo error",
                    Level.NOT_REPRODUCED: "the error grew beyond twice the real set's own"}.get(level, ""))


def check_curation(profile: str, seed: int) -> Verdict:
    rows, agree, amplified, bounded = [], True, True, True
    for mode in ("curate", "verify"):
        for policy in ("replace", "fixed-real"):
            s, r = _debate("debate_curation", profile, seed, mode=mode, policy=policy)
            q = zipf_probabilities(s["n_states"], s["exponent"])
            reward = theory.filter_reward(s["n_states"], s["favourite"], s["reward_scale"], mode)
            share = s["real_sample_size"] / (s["real_sample_size"] + s["sample_size"]) if policy == "fixed-real" else 0.0
            closed = float(theory.curated(q, reward, mode, s["n_generations"], q, share)[-1, s["favourite"]])
            mc = float(r["mean_favourite"][-1])
            tol = 3 * float(r["sd_favourite"][-1]) / np.sqrt(s["n_chains"]) + 2 * np.sqrt(q[s["favourite"]] / s["real_sample_size"])
            agree &= abs(mc - closed) < tol
            if policy == "replace":
                amplified &= mc > 0.5
            else:
                bounded &= mc < 0.5
            rows.append(f"{mode}, {policy}: {mc:.3f} (map {closed:.3f})")
    level = _level(s["n_generations"] >= 10, bool(agree and amplified and bounded), bool(amplified and bounded))
    return Verdict(level,
                   f"Ferbach et al. 2024 (curation maximises the reward, amplifying its bias; stable with real data) and "
                   f"Feng et al. 2024 (a verifier's selection drives the model to the verifier's view). Infinite-sample map "
                   f"of the favourite state's mass (real mass {q[s['favourite']]:.3f}) after {s['n_generations']} "
                   "generations, this book's closed form",
                   f"{s['n_chains']} chains, M = {s['sample_size']}: " + "; ".join(rows),
                   "3 Monte Carlo standard errors plus twice the real set's own sampling error of the mass; without real "
                   "data the favourite must hold most of the mass, with the fixed real set less than half",
                   {Level.NOT_RUN: "fewer than 10 generations",
                    Level.DIRECTION: "the directions hold, but off the infinite-sample map beyond the tolerance",
                    Level.NOT_REPRODUCED: "the filter's favourite does not take over, or the real set does not hold "
                                          "it back"}.get(level, ""))


def check_golden_weight(profile: str, seed: int) -> Verdict:
    settings = resolve_settings("debate_weighting", profile)
    weights = sorted(settings["real_weight"])
    rows, agree, mc_errors = [], True, []
    for w in weights:
        s, r = _debate("debate_weighting", profile, seed, real_weight=w)
        v = theory.weighted_mean_error(1.0, s["real_size"], s["synthetic_size"], w, s["n_generations"])[-1]
        mc, se = float(r["mean_sq_mean_error"][-1]), float(r["sd_sq_mean_error"][-1]) / np.sqrt(s["n_chains"])
        agree &= abs(mc - v) < 3 * se
        mc_errors.append(mc)
        rows.append(f"w = {w:g}: {mc * s['real_size']:.3f} (closed form {v * s['real_size']:.3f})")
    best = theory.optimal_real_weight(s["real_size"], s["synthetic_size"])
    nearest = weights[int(np.argmin(np.abs(np.array(weights) - best)))]
    best_run = weights[int(np.argmin(mc_errors))]
    level = _level(len(weights) >= 3 and min(weights) < best < max(weights), bool(agree and best_run == nearest),
                   best_run == nearest)
    return Verdict(level,
                   f"He, Xu & Cheng 2025: the optimal weight on fresh real data is, in some cases, 1/φ ≈ 0.618. This "
                   f"book's closed form for the Gaussian mean (n = {s['real_size']} real, m = {s['synthetic_size']} "
                   f"synthetic): w* = (√(ρ²+4ρ)−ρ)/2 = {best:.3f}, error n·V* = w* at ρ = 1",
                   f"{s['n_chains']} chains, {s['n_generations']} generations, n·E(μ̂−μ)²: " + "; ".join(rows)
                   + f"; smallest at w = {best_run:g}", SE3 + ", at every weight; the smallest error at the swept weight "
                   "nearest w*",
                   {Level.NOT_RUN: "the swept weights do not bracket the optimum",
                    Level.DIRECTION: "the best weight is right, but the errors are off the closed form",
                    Level.NOT_REPRODUCED: "the smallest error is not at the weight nearest w*"}.get(level, ""))


CLAIMS: list[Claim] = [
    Claim("gaussian-variance-collapses", "gaussian",
          "Fitting a Gaussian to its own samples at fixed M makes the variance collapse (Thm 3.1; SI Fig. 3)",
          check_variance_collapses),
    Claim("gaussian-w2-grows", "gaussian",
          "With unbiased estimators E[W₂²] to the truth grows without bound, about (3/2)σ²Σ1/M_i (Thm 3.1; SI eq. 6)",
          check_w2_grows),
    Claim("gaussian-larger-m-slower", "gaussian",
          "Larger samples per generation slow the drift (SI Fig. 3: one curve per M)", check_larger_m_slows),
    Claim("gaussian-accumulate", "gaussian",
          "Keeping all earlier data (accumulate) stops the variance from collapsing (SI Fig. 5)",
          check_accumulate_keeps_variance),
    Claim("gaussian-subsample", "gaussian",
          "A fixed-size draw from the pool of all earlier data also keeps the errors bounded (SI Fig. 4)",
          check_subsample_bounded),
    Claim("discrete-absorbed", "theory",
          "A discrete distribution refitted to its own samples is absorbed in a single state (§3.1)", check_absorption),
    Claim("discrete-fixation", "theory",
          "The chance of ending in state k equals its original probability q_k (§3.1)", check_fixation_probability),
    Claim("discrete-tails-first", "theory",
          "Low-probability events are lost first: early collapse loses the tails (Def. 2.1; §3.1)",
          check_rare_states_first),
    Claim("gaussian-log-variance-rate", "theory",
          "Thm 3.1: with unbiased fits at fixed M, σ_n² → 0 almost surely; by its proof log σ_n² drifts by "
          "ψ(k/2) − log(k/2) ≈ −1/(M−1) per generation, one e-fold per M generations (G6; Suresh et al. 2024: "
          "σ ≈ 0 within about M generations)",
          check_log_variance_rate),
    Claim("gaussian-superlinear-m-bounded", "theory",
          "The sample size must grow superlinearly: E[W₂²] ≈ (3/2)σ²Σ1/M_i (SI eq. 6) stays bounded iff "
          "Σ1/M_i < ∞, and M_i = M₀(i+1)² keeps it near (3/2)σ²π²/(6M₀)",
          check_superlinear_sizes_bound_w2),
    Claim("followup-regression-replace", "prevention",
          "Follow-up (Gerstgrasser et al. 2024): replacing data makes the test error grow linearly with generations",
          check_regression_replace_linear),
    Claim("followup-regression-accumulate", "prevention",
          "Follow-up (Gerstgrasser et al. 2024): accumulating data keeps it below π²/6 times the first fit's",
          check_regression_accumulate_bounded),
    Claim("followup-gaussian-accumulate", "prevention",
          "Follow-up (Gerstgrasser et al. 2024; Kazdan et al. 2024): for a d-dimensional Gaussian, accumulating "
          "keeps E‖μ̂−μ‖² below π²/6 · tr Σ/M, while replacing makes it grow linearly (tr Σ · Σ1/M_i)",
          check_mvg_accumulate_bounded),
    Claim("gaussian-volume-collapses", "prevention",
          "Thm 3.1 in d dimensions: under replace the fitted covariance collapses, Σ_n → 0 almost surely (the "
          "book's closed form: log det Σ̂ drifts down by about d(d+1)/(2M) per generation)",
          check_mvg_volume_collapses),
    Claim("followup-real-data-bounds-error", "prevention",
          "Follow-up (Bertrand et al. 2024): retraining with a large enough share of real data stays stable; for the "
          "Gaussian, fresh real data γ = 10% per generation bounds E‖μ̂−μ‖² at m* ≈ tr Σ/(Mγ(2−γ)) (→ 5.3 tr Σ/M "
          "for large M; the exact value at the run's M is printed)",
          check_mix_bounds_error),
    Claim("followup-growing-m-like-accumulate", "prevention",
          "SI (M_i must grow superlinearly) and follow-up (Gerstgrasser et al. 2024): M_i = M₀(i+1)² under replace, "
          "or accumulating at constant M, keeps E‖μ̂−μ‖² below π²/6 · tr Σ/M₀; constant M grows linearly",
          check_growing_sizes_like_accumulate),
    Claim("followup-tails-kept", "prevention",
          "Early collapse loses the tails first (Def. 2.1): under replace the typical chain loses the mass q beyond "
          "the original's 90% quantile while its mean stays at q (a martingale); accumulating the data "
          "(Gerstgrasser et al. 2024) keeps it, with variance ≈ q(1−q)π²/(6M)", check_tails_kept),
    Claim("followup-forget-time", "prevention",
          "Follow-up (Suresh et al. 2024): the time to forget a value grows roughly linearly with its count in the "
          "real data (exact two-state chain; Kimura–Ohta: 2k ln(M/k)/(1−k/M) generations given loss)",
          check_forget_time),
    Claim("followup-gmm-accumulate", "prevention",
          "Follow-up (Gerstgrasser et al. 2024; Dey & Donoho 2024): for a Gaussian mixture fitted by EM, "
          "accumulating keeps the error within about π²/6 times the first fit's, while replacing makes "
          "KL(p₀‖p̂) grow by orders of magnitude", check_gmm_accumulate_bounded),
    Claim("followup-gmm-real-data", "prevention",
          "Follow-up (Bertrand et al. 2024; the paper's LM setting 2 keeps 10%): 10% fresh real data per "
          "generation stops the mixture's KL(p₀‖p̂) from growing; it settles far below replace's",
          check_gmm_real_data_bounded),
    Claim("debate-strong-collapse", "debate",
          "Strong model collapse (Dohmatob, Feng, Subramonian & Kempe 2025): with a fixed share of synthetic "
          "(biased) labels, the test error of regression plateaus at p²‖Δ‖² instead of falling with n",
          check_strong_collapse),
    Claim("debate-tail-cut-plateau", "debate",
          "A Tale of Tails (Dohmatob, Feng, Yang, Charton & Kempe 2024): data whose generator lost the tail make the "
          "learning curve plateau at the lost mass; clean data mixed back let it fall again", check_tail_cut_plateau),
    Claim("debate-temperature", "debate",
          "Marchi et al. 2024: refitting to samples drawn at τ < 1 collapses to a point, at τ > 1 spreads towards "
          "the uniform distribution", check_temperature),
    Claim("debate-biased-sampling", "debate",
          "Alemohammad et al. 2024 (MAD): sampling for quality over diversity without fresh real data collapses the "
          "variance; enough fresh real data keep it", check_biased_sampling),
    Claim("debate-self-correction", "debate",
          "Gillman et al. 2024: self-correcting each generated sample towards the truth makes the loop exponentially "
          "stable; the catch: a biased corrector pulls the model to its own view", check_self_correction),
    Claim("debate-fixed-real", "debate",
          "Bertrand et al. 2024: with the same real set in every generation, retraining on generated data stays "
          "near the first fit (the fifth data policy, fixed-real)", check_fixed_real_bounded),
    Claim("debate-curation", "debate",
          "Ferbach et al. 2024; Feng et al. 2024: retraining on curated (or verified) samples drives the model to "
          "the reward's (or verifier's) preferred outputs; a fixed share of real data keeps it at a bounded point",
          check_curation),
    Claim("debate-golden-weight", "debate",
          "He, Xu & Cheng 2025: weighting fresh real data against synthetic data, the optimal weight on the real data "
          "is (in some cases) the reciprocal of the golden ratio", check_golden_weight),
    Claim("gmm-component-spread", "gmm",
          "A GMM refitted to its own samples for 2000 generations shrinks its components towards points (SI Fig. 6; "
          "the code logs each component's spread)", check_gmm_component_spread),
    Claim("gmm-l2-magnitude", "gmm",
          "The L2 distance between the original GMM and generation n grows by orders of magnitude (SI Fig. 8)",
          check_gmm_l2_magnitude),
    Claim("gmm-expressivity-error", "gmm",
          "§3 functional expressivity error: one Gaussian fitted to a mixture of two keeps an error that no amount "
          "of data removes (the squared L2 distance to the best single Gaussian); two components do not have it",
          check_gmm_expressivity_error),
    Claim("gmm-statistical-error-vanishes", "gmm",
          "§3 statistical approximation error vanishes as M → ∞ (here like 1/M), so with unlimited data the "
          "expressivity error acts only at the first fit", check_gmm_statistical_error_vanishes),
    Claim("gmm-policies-keep-variance", "gmm",
          "Follow-up (Gerstgrasser et al. 2024; Bertrand et al. 2024): accumulating the data, or 10% fresh real data "
          "per generation, keeps the mixture's total variance, which under replace shrinks by (M−1)/M per generation",
          check_gmm_policies_keep_variance),
    Claim("vae-digits-collapse", "vae",
          "A VAE trained on its predecessor's samples loses the variety of digits: samples converge to a few "
          "modes (SI Fig. 7; arXiv v2 Fig. 9)", check_vae_digits_collapse),
    Claim("vae-latents-concentrate", "vae",
          "Under the original encoder, later generations' samples lose the tails of the latent distribution and "
          "pile up near the mean (arXiv v2 Fig. 8)", check_vae_latents_concentrate),
    Claim("lm-perplexity-rises", "language_model",
          "Models fine-tuned on the previous generation's text do worse on the real test set (Fig. 1b, right)",
          check_lm_perplexity_rises),
    Claim("lm-real-data-helps", "language_model",
          "Keeping 10% of the original data makes the degradation smaller (Fig. 1c against 1b)",
          check_lm_real_data_helps),
    Claim("lm-low-perplexity-pileup", "language_model",
          "Generated text is more probable under the real-data model than real text: mass piles up at low "
          "perplexity (Fig. 1b, left)", check_lm_low_perplexity_pileup),
    Claim("lm-long-tail", "language_model",
          "Generated text also grows a long tail of blocks the real-data model finds improbable (Fig. 1b, left)",
          check_lm_long_tail),
    Claim("lm-magnitudes", "language_model",
          "Fine-tuning on the real text takes OPT-125m from perplexity 115 to 34 (Fig. 1b)", check_lm_magnitudes),
    Claim("lm-repetition-ablation", "language_model",
          "A repetition penalty of 2 roughly doubles the perplexity (the ablation)", check_lm_repetition_ablation),
    Claim("lm-example-1", "language_model",
          "Example 1: generation 0 writes fluent text; later generations drift and repeat themselves",
          check_lm_example_1),
]


def evaluate(profile: str, seed: int = 0, claims: list[Claim] | None = None) -> list[dict]:
    """Check every claim at ``profile`` and ``seed``; one dict per claim: key, chapter, paper (the claim),
    paper_value, book_value, tolerance, verdict (a :class:`Level`'s text) and reason."""
    check_profile(profile)
    rows = []
    for claim in claims or CLAIMS:
        verdict = claim.check(profile, seed)
        rows.append({"key": claim.key, "chapter": claim.chapter, "paper": claim.paper,
                     "paper_value": verdict.paper_value, "book_value": verdict.book_value,
                     "tolerance": verdict.tolerance, "verdict": Level(verdict.level).value, "reason": verdict.reason})
    return rows


def count_levels(rows: list[dict]) -> dict:
    """How many rows have each verdict, in the order of :data:`LEVELS` (every level present, zeros included)."""
    return {level.value: sum(row["verdict"] == level.value for row in rows) for level in LEVELS}


def summary(rows: list[dict]) -> str:
    """One line: the count of each verdict, e.g. "12 reproduced, 3 direction only, 1 not reproduced, 2 not run at
    this profile (of 18)"."""
    counts = count_levels(rows)
    return ", ".join(f"{n} {level}" for level, n in counts.items()) + f" (of {len(rows)})"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def as_markdown(rows: list[dict], profile: str) -> str:
    """The scorecard as a Markdown table: the claim, the paper's value, this build's, the tolerance, the verdict."""
    lines = [f"| claim | verdict | the paper | paper's value (or closed form) | this build (profile `{profile}`) "
             "| tolerance, and why |", "|---|---|---|---|---|---|"]
    for row in rows:  # the verdict second, so that it stays in view on a narrow page
        verdict = f"**{row['verdict']}**" + (f" — {row['reason']}" if row["reason"] else "")
        lines.append(f"| `{row['key']}` ({{doc}}`{row['chapter']}`) | {_cell(verdict)} | {_cell(row['paper'])} "
                     f"| {_cell(row['paper_value'])} | {_cell(row['book_value'])} | {_cell(row['tolerance'])} |")
    return "\n".join(lines)
