"""The diffsim command line."""
