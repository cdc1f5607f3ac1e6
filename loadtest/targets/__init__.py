"""Target adapters: one per server kind, all behind :class:`loadtest.targets.base.Target`."""
