"""The engine: symbolic tensors and call nodes (the functional graph), eager
tensors recorded on a tape, per-call contexts, and the one tape executor."""
