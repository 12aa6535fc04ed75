"""The ``pinokiocloud`` command line."""
