"""The algorithms: each file composes primitives behind `init`, `act(mode)` and `update` (`base`)."""
