"""Differentiable ops, one module per kernel family (mirrors csrc/cpu/)."""
