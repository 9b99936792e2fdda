"""The training loop (fit / evaluate / predict), what compile() builds, and the data
adapters that batch arrays, lists and dicts."""
