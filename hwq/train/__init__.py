"""A small NumPy training loop (SGD with momentum, cross-entropy) over IR models."""
