"""What happens in a world: the numba core, the world, and everything built on them."""
