"""xai: explanation methods for Keras image classifiers (never imports experiments)."""
