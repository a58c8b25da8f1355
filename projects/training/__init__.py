"""Training: owed retrains (recorded in the database), the retrain run, rankings, scores on rows."""
