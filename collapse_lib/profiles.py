"""Scale profiles, defined once for every experiment of the book.

``smoke``
    Seconds. CI and the papermill tests run every chapter like this; every section still runs.
``book``
    The default: minutes on 2 CPU cores. The rendered book's numbers come from it.
``paper``
    The paper's exact settings (a GPU is advised for the neural experiments).

A profile gives, for each experiment, the settings that differ from that experiment's
defaults. A value wrapped in :class:`Sweep` is a list of values to run one by one: a
chapter loops over it, the command line turns it into independent runs.
"""

from __future__ import annotations

import os
import re

from .validation import SettingError, check_choice

PROFILE_NAMES = ("smoke", "book", "paper")


class Sweep(tuple):
    """Several values of one setting, each run separately: ``Sweep([100, 1000])``."""

    def __new__(cls, values):
        values = tuple(values)
        if not values:
            raise SettingError("a sweep needs at least one value.")
        return super().__new__(cls, values)

    def __repr__(self) -> str:
        return f"Sweep({list(self)!r})"


PROFILES: dict = {
    # Discrete distributions with exact approximation: neutral Wright-Fisher chains.
    "wright_fisher": {
        "smoke": dict(sample_size=20, n_generations=150, n_chains=2000),
        "book": dict(sample_size=50, n_generations=700, n_chains=20000),
        "paper": dict(sample_size=100, n_generations=2000, n_chains=100000),
    },
    # --- gmm (issue 3): Gaussian mixture models ---
    # The paper's mixture experiment (SI Figs. 6, 8; official notebook cells 1-7): M = 1000 points,
    # 2050 generations, both data variants; K = 1 is a single Gaussian fitted to the same data.
    "gmm": {
        "smoke": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=60,
                      n_chains=8),
        "book": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=2050,
                     n_chains=40),
        "paper": dict(data=Sweep(["blob", "two_gaussians"]), n_components=Sweep([2, 1]), n_generations=2050,
                      n_chains=100),
    },
    # Functional expressivity: one step of a one- and a two-component fit to two Gaussians, over M.
    "gmm_expressivity": {
        "smoke": dict(data="two_gaussians", n_components=Sweep([1, 2]), sample_size=Sweep([100, 1000, 10000]),
                      n_generations=1, n_chains=4),
        "book": dict(data="two_gaussians", n_components=Sweep([1, 2]),
                     sample_size=Sweep([100, 1000, 10000, 100000]), n_generations=1, n_chains=20),
        "paper": dict(data="two_gaussians", n_components=Sweep([1, 2]),
                      sample_size=Sweep([100, 1000, 10000, 100000, 1000000]), n_generations=1, n_chains=100),
    },
    # Replace, accumulate (the pool grows: quadratic cost) and 10% fresh real data per generation.
    "gmm_policies": {
        "smoke": dict(data="two_gaussians", sample_size=100, n_generations=30, n_chains=8,
                      policy=Sweep(["replace", "accumulate", "mix"])),
        "book": dict(data="two_gaussians", sample_size=100, n_generations=200, n_chains=40,
                     policy=Sweep(["replace", "accumulate", "mix"])),
        "paper": dict(data="two_gaussians", sample_size=1000, n_generations=500, n_chains=100,
                      policy=Sweep(["replace", "accumulate", "mix"])),
    },
    # --- prevention (issue 6): replace vs accumulate, fresh real data, growing samples ---
    # Linear regression fitted to its own predictions (Gerstgrasser et al.; Kazdan et al.'s sweep
    # of d and T with T > d). accumulate-subsample keeps every chain's pool of labels.
    "prevention_regression": {
        "smoke": dict(dim=5, design_size=Sweep([15, 40]), n_generations=20, n_chains=300,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(dim=10, design_size=Sweep([20, 40, 100]), n_generations=100, n_chains=1000,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(dim=10, design_size=Sweep([32, 100, 316, 1000]), n_generations=100, n_chains=100,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    },
    # The d-dimensional Gaussian under three policies (mix: prevention_mix, with the same d, M, ddof and
    # spectrum, so that the chapter can draw the four policies together).
    "prevention_gaussian": {
        "smoke": dict(dim=3, sample_size=20, n_generations=20, n_chains=300,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(dim=5, sample_size=50, n_generations=100, n_chains=1000,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(dim=5, sample_size=50, n_generations=500, n_chains=200,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    },
    # A fraction of fresh real data per generation, and the size of the first model's real data.
    "prevention_mix": {
        "smoke": dict(dim=3, sample_size=20, n_generations=20, n_chains=300, policy="mix",
                      real_fraction=Sweep([0.0, 0.1, 0.5, 1.0]), real_sample_size=Sweep([0, 5])),
        "book": dict(dim=5, sample_size=50, n_generations=150, n_chains=600, policy="mix",
                     real_fraction=Sweep([0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]),
                     real_sample_size=Sweep([0, 7, 5000])),
        "paper": dict(dim=5, sample_size=50, n_generations=1000, n_chains=10000, policy="mix",
                      real_fraction=Sweep([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]),
                      real_sample_size=Sweep([0, 7, 5000])),
    },
    # Sample sizes that grow with the generation (sum of 1/M_i finite or not), replace vs accumulate.
    "prevention_schedules": {
        "smoke": dict(dim=3, sample_size=20, n_generations=30, n_chains=500,
                      schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
        "book": dict(dim=5, sample_size=20, n_generations=200, n_chains=2000,
                     schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
        "paper": dict(dim=5, sample_size=20, n_generations=1000, n_chains=10000,
                      schedule=Sweep(["constant", "linear", "quadratic"]), policy=Sweep(["replace", "accumulate"])),
    },
    # A two-component Gaussian mixture in the plane (batched EM), three policies; mix: prevention_gmm_mix.
    # "paper" uses the paper's M = 1000 but not its 2050 generations: accumulate refits EM to the whole
    # pool, (g + 1) M points per chain, so 500 generations over 10 chains already fit 2.5 billion points.
    "prevention_gmm": {
        "smoke": dict(sample_size=50, n_generations=10, n_chains=50, n_test=200,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "book": dict(sample_size=50, n_generations=80, n_chains=200,
                     policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
        "paper": dict(sample_size=1000, n_generations=500, n_chains=10,
                      policy=Sweep(["replace", "accumulate", "accumulate-subsample"])),
    },
    "prevention_gmm_mix": {
        "smoke": dict(sample_size=50, n_generations=10, n_chains=50, n_test=200, policy="mix", real_fraction=0.1),
        "book": dict(sample_size=50, n_generations=80, n_chains=200, policy="mix", real_fraction=Sweep([0.1])),
        "paper": dict(sample_size=1000, n_generations=500, n_chains=10, policy="mix", real_fraction=Sweep([0.1])),
    },
    # A Zipf-like distribution resampled: tail mass, and the loss time of rare states.
    "prevention_tails": {
        "smoke": dict(n_states=50, sample_size=50, n_generations=100, n_chains=500,
                      policy=Sweep(["replace", "accumulate"]), max_count=8),
        "book": dict(n_states=100, sample_size=100, n_generations=500, n_chains=1500,
                     policy=Sweep(["replace", "accumulate"])),
        "paper": dict(n_states=1000, sample_size=1000, n_generations=3000, n_chains=500,
                      policy=Sweep(["replace", "accumulate"]), max_count=50),
    },
    # --- debate (issue 17): the positions around the paper, each a small experiment with a closed form ---
    # Strong model collapse: least squares on n points, a fixed share p of them with biased labels.
    "debate_strong": {
        "smoke": dict(synthetic_fraction=Sweep([0.0, 0.1]), sample_sizes=[30, 100, 300, 1000, 3000], n_chains=400),
        "book": dict(synthetic_fraction=Sweep([0.0, 0.01, 0.1, 0.5]), n_chains=2000),
        "paper": dict(synthetic_fraction=Sweep([0.0, 0.001, 0.01, 0.1, 0.5]), n_chains=20000,
                      sample_sizes=[30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000]),
    },
    # A tale of tails: memorised Zipf facts; the chapter sets cutoff and clean_fraction per curve.
    "debate_tails": {
        "smoke": dict(n_facts=2000, n_chains=50, sample_sizes=[10, 100, 1000, 10000, 100000, 1000000]),
        "book": dict(n_facts=10000, n_chains=200),
        "paper": dict(n_facts=100000, n_chains=1000,
                      sample_sizes=[10, 100, 1000, 10000, 100000, 1000000, 10000000]),
    },
    # Sampling at a temperature: tau < 1, = 1, > 1.
    "debate_temperature": {
        "smoke": dict(temperature=Sweep([0.8, 1.0, 1.25]), n_generations=15, n_chains=100),
        "book": dict(temperature=Sweep([0.8, 1.0, 1.25]), n_generations=30, n_chains=500),
        "paper": dict(temperature=Sweep([0.8, 1.0, 1.25]), sample_size=10000, n_generations=100, n_chains=2000),
    },
    # Quality over diversity (truncated sampling); the chapter sets truncation, policy and real_fraction per run.
    "debate_bias": {
        "smoke": dict(n_generations=20, n_chains=300),
        "book": dict(n_generations=40, n_chains=2000),
        "paper": dict(n_generations=100, n_chains=20000),
    },
    # Self-correction (Gillman et al.): no correction, an exact corrector, and a biased one.
    "debate_correction": {
        "smoke": dict(correction=Sweep([0.0, 0.2]), corrector_bias=Sweep([0.0, 0.5]), n_generations=20, n_chains=400),
        "book": dict(correction=Sweep([0.0, 0.05, 0.2]), corrector_bias=Sweep([0.0, 0.5]), n_generations=100,
                     n_chains=2000),
        "paper": dict(correction=Sweep([0.0, 0.05, 0.2, 0.5]), corrector_bias=Sweep([0.0, 0.5]), n_generations=300,
                      n_chains=20000),
    },
    # The fifth policy, fixed-real: the same r real points plus M generated ones every generation.
    "debate_fixed_real": {
        "smoke": dict(dim=3, sample_size=20, real_sample_size=Sweep([5, 20]), n_generations=20, n_chains=300),
        "book": dict(dim=5, sample_size=50, real_sample_size=Sweep([10, 50, 250]), n_generations=100, n_chains=1000),
        "paper": dict(dim=5, sample_size=50, real_sample_size=Sweep([10, 50, 250]), n_generations=1000,
                      n_chains=10000),
    },
    # Verify and curate: a filtered categorical loop, replace against fixed-real (the chapter sets mode and policy).
    "debate_curation": {
        "smoke": dict(n_generations=15, n_chains=50),
        "book": dict(n_generations=30, n_chains=200),
        "paper": dict(n_generations=100, n_chains=1000, sample_size=10000, real_sample_size=10000),
    },
    # Weighting fresh real against synthetic data: the weight on the real part swept around 1/golden ratio.
    "debate_weighting": {
        "smoke": dict(real_weight=Sweep([0.3, 0.618, 1.0]), n_chains=5000, n_generations=30),
        "book": dict(real_weight=Sweep([0.2, 0.3, 0.4, 0.5, 0.618, 0.75, 0.9, 1.0]), n_chains=40000),
        "paper": dict(real_weight=Sweep([0.1, 0.2, 0.3, 0.4, 0.5, 0.618, 0.75, 0.9, 1.0]), n_chains=400000,
                      n_generations=100),
    },
    # --- vae (issue 4): a VAE on MNIST ---
    # The paper's VAE experiment (SI Fig. 7; arXiv v2 Figs. 8-9; official VAE_experiments.ipynb), replace
    # and keep-10%-real. smoke uses a small MLP VAE (plumbing only); book the paper's conv VAE on a subset;
    # `paper` is the defaults: the conv VAE on all 60,000 images, 30 epochs, 20 generations (a GPU is advised).
    "vae": {
        "smoke": dict(architecture="mlp", hidden=128, n_train=1024, epochs=1, n_generations=3, n_test=500,
                      n_eval=300, n_grid=16, classifier_epochs=1, policy=Sweep(["replace", "mix"])),
        # book: the paper's conv VAE in bfloat16, 8,000 images x 4 epochs (128 steps, 32,000 images seen per
        # generation; the paper: 7,050 steps, 1.8 M images), sized so that both policies x 21 generations fit
        # in about 6 minutes on 2 cores (issue 15; benchmarks/README.md, book/vae).
        "book": dict(architecture="conv", precision="bf16", n_train=8000, epochs=4, n_generations=20, n_test=2000,
                     n_eval=1000, policy=Sweep(["replace", "mix"])),
        "paper": dict(policy=Sweep(["replace", "mix"])),
    },
    # --- language_model (issues 5, 14): WikiText-2 ---
    # smoke/book: the library's small OPT-shaped transformer on a CPU, pretrained once on the training
    # text except the blocks it is then fine-tuned on (base_text="rest"); every generation keeps its last
    # epoch (checkpoint="last": the real-validation rule keeps the first epoch on generated text, so nothing
    # compounds), at a learning rate high enough for the model to learn its dataset. paper: OPT-125m with
    # the paper's hyperparameters (a GPU and network access to Hugging Face are needed).
    "language_model": {
        "smoke": dict(setting=Sweep([1, 2]), n_generations=2, n_seeds=1, vocab_size=320, d_model=32, n_layers=1,
                      n_heads=2, d_ff=64, n_train_blocks=24, n_valid_blocks=16, n_test_blocks=32, lr=3e-3,
                      batch_size=8, eta_min=1e-4, base_epochs=1, base_max_blocks=400, base_lr=3e-3,
                      base_batch_size=32, generate_batch_size=24, base_text="rest", checkpoint="last"),
        "book": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=2, vocab_size=1024, d_model=128, n_layers=2,
                     n_heads=4, d_ff=512, n_train_blocks=256, n_valid_blocks=64, n_test_blocks=256, lr=1e-3,
                     batch_size=32, eta_min=1e-4, base_epochs=2, base_max_blocks=0, base_lr=2e-3,
                     base_batch_size=32, generate_batch_size=64, base_text="rest", checkpoint="last"),
        "paper": dict(setting=Sweep([1, 2]), n_generations=9, n_seeds=5, backend="opt", opt_model="facebook/opt-125m",
                      device="auto", lr=2e-5, batch_size=128, eta_min=1e-6, n_train_blocks=0, n_valid_blocks=0,
                      n_test_blocks=0, base_epochs=0, generate_batch_size=128, eval_batch_size=128),
    },
}


def check_profile(profile: str) -> str:
    """Raise a clear error for an unknown profile name."""
    return check_choice("profile", profile, PROFILE_NAMES)


def _passed_by_papermill(name: str) -> bool:
    """True if papermill injected a value of ``name`` into the running kernel (its injected cell,
    which starts with ``# Parameters``, is in IPython's input history)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    history = shell.user_ns.get("_ih", []) if shell is not None else []
    return any(cell.lstrip().startswith("# Parameters") and re.search(rf"^{name}\s*=", cell, flags=re.M)
               for cell in history)


def profile_from_env(profile: str, default: str = "book") -> str:
    """The profile a chapter runs at.

    A profile passed explicitly (a papermill parameter, or a value other than the chapter's
    ``default``) always wins. ``$COLLAPSE_PROFILE`` (``make book PROFILE=...``) replaces only the
    chapter's default. Either way the choice is printed when the two disagree.
    """
    check_profile(profile)
    from_env = os.environ.get("COLLAPSE_PROFILE", "").strip()
    if not from_env or from_env == profile:
        return profile
    check_choice("COLLAPSE_PROFILE", from_env, PROFILE_NAMES)
    if profile != default or _passed_by_papermill("profile"):
        print(f"profile {profile!r} was passed explicitly; COLLAPSE_PROFILE={from_env!r} is ignored.")
        return profile
    print(f"profile {from_env!r} from COLLAPSE_PROFILE (the chapter's default is {default!r}).")
    return from_env


def profile_settings(experiment: str, profile: str) -> dict:
    """The settings a profile changes for ``experiment`` (may contain :class:`Sweep` values)."""
    check_profile(profile)
    check_choice("experiment", experiment, PROFILES)
    return dict(PROFILES[experiment][profile])
