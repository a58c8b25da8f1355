"""The pool's low-rank geometry, where the diversity selector measures distances (issue 15).

The simulator's k-center selector measures distances on the pool's truncated SVD
(``strategies._space.embed``, ``selection.uses_geometry``); here the same projection
(``strategies._space.fit_projection``) is fitted once on the project's stored rows, kept
beside them (``features.geometry_save_once``), and applied to the shortlist's rows at
each selection. Items imported later are projected with it, as they are featurised
with the vocabulary fitted at import. Narrow dense features keep their own geometry.
"""

from __future__ import annotations

import numpy as np

from projects.models import Project
from projects.pool import features
from projects.pool.snapshot import candidate_ids_all, features_ready
from strategies._space import Projection, fit_projection, projection_sample


def pool_projection(project: Project, *, fresh: bool = False) -> Projection:
    """The project's stored projection, fitted at its first use.

    The fit reads the rows of the at most ``FIT_SAMPLE`` items it samples
    (``projection_sample``), not the whole feature store: gathering a 1M-item pool's rows
    for it took 6 s, and the first selection may run in a request.
    """
    stored = features.geometry_load(project.pk, fresh=fresh)
    if stored is None:
        ids = candidate_ids_all(project)
        sampled = ids[projection_sample(len(ids), project.random_state)]
        table = features_ready(project, sampled)
        fitted = fit_projection(table.rows(sampled), random_state=project.random_state, n=len(ids))
        stored = features.geometry_save_once(project.pk, fitted)
    projection: Projection = stored
    return projection


def geometry_rows(project: Project, X: features.Matrix) -> np.ndarray:
    """``X`` (rows of the project's features) in the pool's low-rank geometry."""
    projection = pool_projection(project)
    if projection.width not in (None, X.shape[1]):  # a new representation since it was read
        projection = pool_projection(project, fresh=True)
    return projection.transform(X)
