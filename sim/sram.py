"""The SRAM access energy that both the memory mapping and the energy model use.

Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
pp. 10-14 (45 nm, 0.9 V): a 64-bit read of an 8 KB SRAM costs 10 pJ, of a 32 KB one
20 pJ. `sim.resources.map_memory` splits a memory into the block-RAM shape that one
access spends the least on by this formula (Vivado's ``ram_decomp = "power"``);
`sim.energy` prices the accesses of that mapping with it, scaled to the FPGA family.
"""

from __future__ import annotations

import math

__all__ = ["H_SRAM_8KB_READ64_PJ", "H_SRAM_32KB_READ64_PJ", "SRAM_SIZE_EXPONENT",
           "SRAM_FIXED_SHARE", "sram_pj"]

H_SRAM_8KB_READ64_PJ = 10.0  # 64-bit read, 8 KB SRAM
H_SRAM_32KB_READ64_PJ = 20.0  # 64-bit read, 32 KB SRAM (used for the size exponent)
# SRAM read energy grows as size^k; k from Horowitz's 8 KB → 32 KB points (= 0.5).
SRAM_SIZE_EXPONENT = math.log(H_SRAM_32KB_READ64_PJ / H_SRAM_8KB_READ64_PJ) / math.log(4)
# Share of an SRAM read that does not depend on the port width (decoder, word line,
# sense-amp timing): assumption, 0.5; the rest scales with the bits read.
SRAM_FIXED_SHARE = 0.5


def sram_pj(size_bytes: float, port_bits: int) -> float:
    """45 nm SRAM read energy (pJ): Horowitz's 10 pJ per 64 bits of an 8 KB array,
    scaled by ``(size/8 KB)^0.5`` and by port width with a fixed share of 0.5."""
    size_scale = (size_bytes / 8192) ** SRAM_SIZE_EXPONENT
    width_scale = SRAM_FIXED_SHARE + (1 - SRAM_FIXED_SHARE) * port_bits / 64
    return H_SRAM_8KB_READ64_PJ * size_scale * width_scale
