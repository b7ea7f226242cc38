"""Plumbing shared by every layer: canonical JSON, atomic file writes, the JAX scope.

Nothing here knows about games or certificates.
"""
