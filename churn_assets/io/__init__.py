"""Storage pieces: the warehouse IO managers of each deployment."""
