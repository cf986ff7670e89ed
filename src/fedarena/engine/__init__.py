"""The server half of a round, shared by every engine: the round plan and loop (federation),
what a defense is told about f (assumed_f), the guard that screens what clients sent, the
detection scores of the defense's flags, evaluation and the baselines."""
