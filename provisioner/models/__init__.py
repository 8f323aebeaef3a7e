"""Typed models shared by the layers: inventory, runs, results."""
