"""The server half of a round, shared by every engine: the round plan and loop (federation), the
guard that screens what clients sent, evaluation and the baselines."""
