"""The IntegerNetwork contract in code, importable without torch or Amaranth.

- `intnet.contract`: constants and formulas of the arithmetic contract (widths, weight
  ranges, MACs, conv output size, the accumulator width), once.
- `intnet.bundle`: the bundle format (`IntegerNetwork`, `load_bundle`, `save_bundle`).
- `intnet.golden`: golden integer inference, the reference every other part matches.
- `intnet.arch`: the scaled network family as shapes (`LayerSpec`, `network_specs`).
- `intnet.synthetic`: hand-made networks (random, extreme) for tests and benchmarks.
"""
