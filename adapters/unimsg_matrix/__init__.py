"""Matrix for unimsg, on matrix-nio."""
