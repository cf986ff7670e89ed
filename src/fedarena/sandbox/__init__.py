"""Limited child processes for code that may misbehave: matrix cells and submitted defenses."""
