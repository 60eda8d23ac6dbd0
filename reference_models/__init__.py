"""Reference models: architectures, datasets, training recipes and shipped weights.

Filled in by the reference-models work (issue 3); see DESIGN.md for the contract.
"""
