"""Local training engines (vectorised and sequential reference) and the federation loop."""
