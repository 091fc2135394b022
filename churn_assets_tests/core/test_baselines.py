import numpy as np
import pandas as pd
import pytest

from churn_assets.core.modeling.baselines import baseline_scores, judge_baselines, segment_report
from churn_assets.core.modeling.btyd import BGNBD, GammaGamma, log_likelihood, log_likelihood_gradient, rfm


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int = 1):
    """Users drawn from the BG/NBD story itself: rate ~ Gamma(r, alpha), dropout ~ Beta(a, b) after each repeat."""
    rng = np.random.default_rng(seed)
    rate, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(30, 360, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / rate[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return x, t_x, T


def test_maximum_likelihood_recovers_the_parameters_it_was_simulated_with():
    fitted = BGNBD.fit(*simulate_bgnbd(5000, r=0.5, alpha=10.0, a=0.8, b=2.5))
    assert fitted.r == pytest.approx(0.5, rel=0.1)
    assert fitted.alpha == pytest.approx(10.0, rel=0.15)
    assert fitted.a == pytest.approx(0.8, rel=0.15)
    assert fitted.b == pytest.approx(2.5, rel=0.15)


def test_the_likelihoods_gradient_is_its_finite_differences_and_the_fit_finds_the_optimum():
    from scipy.optimize import approx_fprime, minimize

    x, t_x, T = simulate_bgnbd(2000, r=0.5, alpha=10.0, a=0.8, b=2.5, seed=3)
    assert (x == 0).sum() > 100 and (x > 3).sum() > 100  # users without a repeat and users with many
    for params in ([0.5, 10.0, 0.8, 2.5], [1.0, 1.0, 1.0, 1.0], [3.0, 50.0, 0.2, 8.0]):
        params = np.array(params)
        numeric = approx_fprime(params, lambda p: log_likelihood(p, x, t_x, T).sum(), 1e-7 * params)
        assert log_likelihood_gradient(params, x, t_x, T) == pytest.approx(numeric, rel=1e-4, abs=1e-3)
    # the fit with the gradient ends at least as low as L-BFGS-B with its own finite differences
    fitted = BGNBD.fit(x, t_x, T)
    loss = lambda log_p: -log_likelihood(np.exp(log_p), x, t_x, T).sum()  # noqa: E731
    by_differences = minimize(loss, np.zeros(4), method="L-BFGS-B", bounds=[(-8, 8)] * 4)
    ours = np.log([fitted.r, fitted.alpha, fitted.a, fitted.b])
    assert loss(ours) <= by_differences.fun + 1e-6


def test_likelihood_and_probabilities_on_hand_computed_cases():
    model = BGNBD(r=1.0, alpha=1.0, a=1.0, b=1.0)
    # x = 0, T = 1: B(1,1)/B(1,1) * Gamma(1) * 1 / (1 + 1)^1 = 0.5
    assert np.exp(log_likelihood(np.ones(4), np.array([0.0]), np.array([0.0]), np.array([1.0])))[0] == (
        pytest.approx(0.5)
    )
    # x = 1, t_x = 1, T = 1: B(1,2)/B(1,1) * Gamma(2) / 2^2 + B(2,1)/B(1,1) * Gamma(2) / 2^2 = 1/8 + 1/8
    assert np.exp(log_likelihood(np.ones(4), np.array([1.0]), np.array([1.0]), np.array([1.0])))[0] == (
        pytest.approx(0.25)
    )
    x, t_x, T = np.array([0.0, 3.0, 3.0]), np.array([0.0, 10.0, 1.0]), np.array([10.0, 10.0, 10.0])
    alive = model.p_alive(x, t_x, T)
    assert alive[0] == 1.0  # no repeat yet: no chance to have dropped out
    assert alive[1] == pytest.approx(1 / (1 + 1 / 3))  # last activity at T: the ratio is 1
    assert alive[2] < alive[1]  # the same activity, long ago
    # alive with rate ~ Gamma(1 + 3, 1 + 10): P(silent for 30 days) = (11 / 41)^4
    churn = model.churn_probability(x, t_x, T, 30)
    assert churn[1] == pytest.approx(1 - alive[1] * (1 - (11 / 41) ** 4))


def test_baselines_are_judged_on_the_test_rows_with_the_model_lift():
    rng = np.random.default_rng(3)
    rows = 400
    recency = rng.integers(0, 30, rows)
    frame = pd.DataFrame(
        {
            "as_of_date": pd.Timestamp("2026-03-01", tz="UTC"),
            "lifetime_active_days": rng.integers(1, 20, rows),
            "days_since_first_activity": 60 + recency,
            "days_since_last_activity": recency,
            "churned": (recency + rng.integers(0, 20, rows) > 25).astype(int),
        }
    )
    out = judge_baselines(frame, *baseline_scores(frame, frame, 30), {"pr_auc": 0.9, "roc_auc": 0.95})
    assert set(out) == {"recency", "bg_nbd"}
    assert out["recency"]["roc_auc"] > 0.8  # the label was made from recency
    assert out["recency"]["model_lift"]["pr_auc"] == pytest.approx(0.9 - out["recency"]["pr_auc"], abs=1e-4)
    assert out["bg_nbd"]["fitted_on"] == "400 users as of 2026-03-01"
    assert set(out["bg_nbd"]["params"]) == {"r", "alpha", "a", "b"}
    x, t_x, T = rfm(frame.head(1))
    assert (x[0], t_x[0], T[0]) == (
        frame["lifetime_active_days"].iloc[0] - 1,
        60.0,
        60.0 + recency[0],
    )


def test_segment_report_judges_only_the_recently_active_rows():
    test = pd.DataFrame(
        {
            "days_since_last_activity": [0, 1, 6, 7, 30, 2],
            "churned": [0, 1, 1, 1, 1, 0],
        }
    )
    model = np.array([0.1, 0.9, 0.8, 0.2, 0.2, 0.3])  # ranks the four recent rows perfectly
    report = segment_report(test, model, {"recency": test["days_since_last_activity"].to_numpy(float)}, days=7)
    assert (report["days"], report["rows"], report["positive_rate"]) == (7, 4, 0.5)
    assert report["model"] == {"pr_auc": 1.0, "roc_auc": 1.0}
    # recency on the recent rows: churners at 1 and 6 days, retained at 0 and 2 -> 3 of 4 pairs ordered
    assert report["recency"]["roc_auc"] == 0.75
    one_class = segment_report(test, model, {}, days=1)
    assert (one_class["rows"], one_class["model"]) == (1, None)


def test_gamma_gamma_expected_value_on_hand_computed_cases():
    """The paper's CDNOW parameters (p 6.25, q 3.74, gamma 15.44): the population's mean value is
    15.44 x 6.25 / 2.74 = 35.219; a customer's mean of 30 over two repeat purchases weighs 12.5 / 15.24 = 0.820:
    0.180 x 35.219 + 0.820 x 30 = 30.938; ten purchases at 50 weigh 62.5 / 65.24: 49.379."""
    model = GammaGamma(6.25, 3.74, 15.44)
    values = model.expected_value(np.array([2, 0, 10]), np.array([30.0, np.nan, 50.0]))
    assert values == pytest.approx([30.9383, 35.2190, 49.3792], abs=1e-4)


def test_gamma_gamma_likelihood_is_the_mixtures_density_and_the_fit_recovers_simulated_parameters():
    from scipy import integrate, stats

    p, q, gamma, x, m = 6.25, 3.74, 15.44, 2, 30.0
    # the mean of x values each Gamma(p, rate nu), with nu ~ Gamma(q, rate gamma), integrated numerically
    density, _ = integrate.quad(
        lambda nu: stats.gamma.pdf(m, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1 / gamma), 0, np.inf
    )
    assert GammaGamma.log_likelihood(np.array([p, q, gamma]), np.array([x]), np.array([m]))[0] == pytest.approx(
        np.log(density), abs=1e-6
    )
    rng = np.random.default_rng(3)
    purchases = rng.integers(1, 12, 4000)
    nu = rng.gamma(4.0, 1 / 15.0, purchases.size)  # q = 4, gamma = 15
    means = np.array([rng.gamma(6.0, 1 / v, n).mean() for v, n in zip(nu, purchases, strict=True)])  # p = 6
    fitted = GammaGamma.fit(np.concatenate([purchases, [0]]), np.concatenate([means, [0.0]]))  # x = 0 is left out
    # p and gamma trade off in this sample (both 30% off, the likelihood 3 nats above the truth's), but the
    # population's mean value gamma p / (q - 1) = 30 and q are what the data pin down
    assert fitted.gamma * fitted.p / (fitted.q - 1) == pytest.approx(30.0, rel=0.03)
    assert fitted.q == pytest.approx(4.0, rel=0.05)
    at = {name: GammaGamma.log_likelihood(np.array(params), purchases.astype(float), means).sum()
          for name, params in (("fit", (fitted.p, fitted.q, fitted.gamma)), ("truth", (6.0, 4.0, 15.0)))}  # fmt: skip
    assert at["fit"] >= at["truth"]
    with pytest.raises(ValueError, match="at least one repeat purchase"):
        GammaGamma.fit(np.array([0, 0]), np.array([0.0, 0.0]))
