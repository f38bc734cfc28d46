"""Gymnasium environments over the physics of diffsim."""
