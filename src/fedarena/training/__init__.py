"""What one client computes in a round: its examples and batches, the optimiser steps, and the
vectorised, sequential (``torch.optim`` reference) and DP-SGD trainers."""
