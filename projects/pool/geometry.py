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
from strategies._space import Projection, fit_projection


def pool_projection(project: Project) -> Projection:
    """The project's stored projection, fitted on every item's row at its first use."""
    stored = features.geometry_load(project.pk)
    if stored is None:
        table = features_ready(project, candidate_ids_all(project))
        stored = features.geometry_save_once(
            project.pk, fit_projection(table.X, random_state=project.random_state)
        )
    projection: Projection = stored
    return projection


def geometry_rows(project: Project, X: features.Matrix) -> np.ndarray:
    """``X`` (rows of the project's features) in the pool's low-rank geometry."""
    return pool_projection(project).transform(X)
