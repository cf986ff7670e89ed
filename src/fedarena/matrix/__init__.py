"""Many runs: scenario files, cells and their keys, the worker, the runner, the store and export."""
