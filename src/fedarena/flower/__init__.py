"""The Flower engine: fedarena scenarios as Flower federations (Message API).

- ``client_app.app``: fedarena shoppers, attacks included, as a ``ClientApp``;
  each shopper's private embedding stays in its SuperNode's state.
- ``strategy.FedarenaStrategy``: any fedarena defense + strategy as a Flower
  ``Strategy``, with the in-process engine's screening and server step.
- ``server_app.app``: the ``ServerApp`` of the Flower App in ``flower-app/``.
- ``simulation.simulate``: the engine ``flower`` of ``run_scenario``, a run
  through Flower's simulation runtime (``local_simulation.run_app``: ``flwr run``
  on a simulation SuperLink of its own).
- ``defended.Defended``: any fedarena defense around any Flower strategy, for a
  Flower app of one's own, on any ``ArrayRecord`` model.

See ``docs/flower.md`` for how the engines differ and how to deploy. Nothing
is imported here: a ClientApp process loads only what it needs, not Ray.
"""
