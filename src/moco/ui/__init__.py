"""Console rendering of run events."""
