"""Quality: agreement, consensus, gold items and the review queue."""
