"""Published UCI regression results the benchmark compares against, with their sources."""

from __future__ import annotations

__all__ = ["PUBLISHED", "ALIASES", "TABLE_REFERENCES", "FIGURE_REFERENCES", "published"]

#: Published test RMSE and test log-likelihood (mean, standard error over splits), original
#: units, on exactly these splits. Copied from ``shared/data/uci/PUBLISHED.md``, which cites:
#: VI (Graves 2011) and PBP (Hernández-Lobato & Adams 2015) as reported by Gal & Ghahramani
#: 2016 (ICML, Table 1); "MC dropout" = Gal & Ghahramani 2016 with the ± converted to a
#: standard error (DropoutUncertaintyExps README, 2016 "10x epochs" results); "MC dropout
#: 2018" = the grid-search re-run in yaringal/DropoutUncertaintyExps @ 6eb4497 (4000 epochs);
#: "Deep Ensembles" = Lakshminarayanan et al. 2017 (NeurIPS, Table 1, sign of NLL flipped).
PUBLISHED: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "concrete": {
        "VI": {"rmse": (7.19, 0.12), "test_ll": (-3.39, 0.02)},
        "PBP": {"rmse": (5.67, 0.09), "test_ll": (-3.16, 0.02)},
        "MC dropout": {"rmse": (5.23, 0.12), "test_ll": (-3.04, 0.02)},
        "MC dropout 2018": {"rmse": (4.826, 0.161), "test_ll": (-2.937, 0.025)},
        "Deep Ensembles": {"rmse": (6.03, 0.58), "test_ll": (-3.06, 0.18)},
    },
    "energy": {
        "VI": {"rmse": (2.65, 0.08), "test_ll": (-2.39, 0.03)},
        "PBP": {"rmse": (1.80, 0.05), "test_ll": (-2.04, 0.02)},
        "MC dropout": {"rmse": (1.66, 0.04), "test_ll": (-1.99, 0.02)},
        "MC dropout 2018": {"rmse": (0.539, 0.014), "test_ll": (-1.212, 0.005)},
        "Deep Ensembles": {"rmse": (2.09, 0.29), "test_ll": (-1.38, 0.22)},
    },
    "power-plant": {
        "VI": {"rmse": (4.33, 0.04), "test_ll": (-2.89, 0.01)},
        "PBP": {"rmse": (4.12, 0.03), "test_ll": (-2.84, 0.01)},
        "MC dropout": {"rmse": (4.02, 0.04), "test_ll": (-2.80, 0.01)},
        "MC dropout 2018": {"rmse": (4.014, 0.037), "test_ll": (-2.808, 0.009)},
        "Deep Ensembles": {"rmse": (4.11, 0.17), "test_ll": (-2.79, 0.04)},
    },
    "protein-tertiary-structure": {
        "VI": {"rmse": (4.84, 0.03), "test_ll": (-2.99, 0.01)},
        "PBP": {"rmse": (4.73, 0.01), "test_ll": (-2.97, 0.00)},
        "MC dropout": {"rmse": (4.36, 0.01), "test_ll": (-2.89, 0.00)},
        "MC dropout 2018": {"rmse": (4.274, 0.021), "test_ll": (-2.871, 0.001)},
        "Deep Ensembles": {"rmse": (4.71, 0.06), "test_ll": (-2.83, 0.02)},
    },
    "wine-quality-red": {
        "VI": {"rmse": (0.65, 0.01), "test_ll": (-0.98, 0.01)},
        "PBP": {"rmse": (0.64, 0.01), "test_ll": (-0.97, 0.01)},
        "MC dropout": {"rmse": (0.62, 0.01), "test_ll": (-0.93, 0.01)},
        "MC dropout 2018": {"rmse": (0.622, 0.008), "test_ll": (-0.928, 0.013)},
        "Deep Ensembles": {"rmse": (0.64, 0.04), "test_ll": (-0.94, 0.12)},
    },
    "yacht": {
        "VI": {"rmse": (6.89, 0.67), "test_ll": (-3.43, 0.16)},
        "PBP": {"rmse": (1.02, 0.05), "test_ll": (-1.63, 0.02)},
        "MC dropout": {"rmse": (1.11, 0.09), "test_ll": (-1.55, 0.03)},
        "MC dropout 2018": {"rmse": (0.666, 0.049), "test_ll": (-1.250, 0.015)},
        "Deep Ensembles": {"rmse": (1.58, 0.48), "test_ll": (-1.18, 0.21)},
    },
}
#: Other spellings of the dataset folder names.
ALIASES = {
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine-red": "wine-quality-red",
    "wine": "wine-quality-red",
}
#: Published columns shown next to ours in the summary table.
TABLE_REFERENCES = ("PBP", "MC dropout", "MC dropout 2018", "Deep Ensembles")
#: Published results drawn in the comparison figure.
FIGURE_REFERENCES = ("VI", "PBP", "MC dropout", "MC dropout 2018", "Deep Ensembles")


def published(dataset: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Published results for a dataset folder name (``{}`` when there are none).

    Returns ``{reference: {"rmse": (mean, se), "test_ll": (mean, se)}}``.

    >>> published("yacht")["PBP"]["test_ll"]
    (-1.63, 0.02)
    """
    return PUBLISHED.get(ALIASES.get(dataset, dataset), {})
