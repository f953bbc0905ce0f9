"""The layer sequencer: walks the descriptor and group tables and issues MAC steps.

Stage S0 of the pipeline. The descriptor table (one word per pass) and the group table
(one word per group of P output channels) are small LUT ROMs read asynchronously; a
`hw.address.LoopNest` walks the current pass and a `hw.address.AddressGenerator` turns
its position into the step's control word ``ctl`` and the read addresses of the buffers
and ROMs. The FSM is IDLE → RUN → DRAIN (the pipeline empties between passes) → RUN … →
ARGMAX (after the last pass) → DONE; ``cycles`` counts the RUN, DRAIN and ARGMAX cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.address import AddressGenerator, LoopNest, control_layout, offsets_width
from hw.plan import Plan
from hw.tables import bits, descriptor_table, group_table, pe_offset_bits, pe_offset_words


class Sequencer(wiring.Component):
    """S0 for ``plan``; ``nports`` activation read ports (P in pixel-parallel designs).

    ``desc`` and ``grp`` show the current pass's and group's table words, ``ctl`` the
    control word of the step issued this cycle (valid with ``step``), ``act_addr`` the
    broadcast read address and ``pe_addr[j]`` PE j's address in pixel-parallel passes.
    """

    def __init__(self, plan: Plan, addr_bits: int, nports: int):
        self._plan, self._addr_bits, self._nports = plan, addr_bits, nports
        self.desc_table = descriptor_table(plan)
        self.group_table = group_table(plan)
        self._ob = pe_offset_bits(plan)
        self.ctl_layout = control_layout(plan, self.group_table, addr_bits, nports)
        gmax = self.group_table.maxima
        super().__init__({
            "start": In(1),
            "loader_busy": In(1),
            "argmax_last": In(1),  # the argmax scan is at its last class
            "loader_enable": Out(1),
            "loader_restart": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "argmax": Out(1),  # in the argmax scan
            "argmax_start": Out(1),  # the scan begins next cycle
            "cycles": Out(32),
            "desc": Out(self.desc_table.layout),
            "grp": Out(self.group_table.layout),
            "ctl": Out(self.ctl_layout),
            "step": Out(1),
            "act_addr": Out(addr_bits + 1),
            "pe_addr": Out(data.ArrayLayout(addr_bits + 1, nports)),
            "weight_addr": Out(bits(gmax["wbase"] + gmax["steps"])),
            "param_addr": Out(range(len(self.group_table.words))),
        })

    def elaborate(self, platform):
        m = Module()
        plan, dt, gt = self._plan, self.desc_table, self.group_table
        pidx = Signal(range(len(plan.passes)))
        # The tables are LUT ROMs with an asynchronous read (a few dozen words); the PE
        # offsets of pixel-parallel passes are a third one, indexed like the descriptors.
        roms = {"desc_rom": (dt.layout.size, dt.words), "group_rom": (gt.layout.size, gt.words),
                "pe_offsets": (offsets_width(plan), pe_offset_words(plan))}
        ports = {}
        for name, (width, words) in roms.items():
            m.submodules[name] = rom = Memory(shape=width, depth=len(words), init=words)
            ports[name] = rom.read_port(domain="comb")
        m.submodules.loop = loop = LoopNest(plan, dt, gt, self._ob)
        m.submodules.addresses = addr = AddressGenerator(
            plan, dt, gt, self._addr_bits, self._nports, self._ob)
        m.d.comb += [
            ports["desc_rom"].addr.eq(pidx), ports["pe_offsets"].addr.eq(pidx),
            ports["group_rom"].addr.eq(loop.gidx),
            self.desc.eq(ports["desc_rom"].data), self.grp.eq(ports["group_rom"].data),
            loop.desc.eq(self.desc), loop.grp.eq(self.grp),
            loop.chunk_step.eq(ports["pe_offsets"].data[2 * self._ob * plan.pe_count:]),
            addr.desc.eq(self.desc), addr.grp.eq(self.grp), addr.pos.eq(loop.pos),
            addr.offsets.eq(ports["pe_offsets"].data), addr.step.eq(loop.step),
            self.ctl.eq(addr.ctl), self.step.eq(loop.step), self.act_addr.eq(addr.act_addr),
            self.pe_addr.eq(addr.pe_addr), self.weight_addr.eq(addr.weight_addr),
            self.param_addr.eq(loop.gidx),
        ]
        self._fsm(m, loop, pidx)
        return m

    def _fsm(self, m, loop, pidx):
        cycles = Signal(32)
        dcnt = Signal(bits(self.desc_table.maxima["drain"]))
        start_pending = Signal()  # a start while the loader still writes the last taps waits
        idle = Signal()
        with m.FSM(name="seq"):
            for name in ("IDLE", "DONE"):
                with m.State(name):
                    m.d.comb += idle.eq(1)
                    with m.If(self.start & self.loader_busy):
                        m.d.sync += start_pending.eq(1)
                    with m.If((self.start | start_pending) & ~self.loader_busy):
                        m.d.sync += [start_pending.eq(0), cycles.eq(0), pidx.eq(0)]
                        m.d.comb += loop.restart.eq(1)
                        m.next = "RUN"
                    if name == "DONE":
                        m.d.comb += self.done.eq(~start_pending)
            with m.State("RUN"):
                m.d.comb += loop.run.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(loop.pass_end):
                    m.d.sync += dcnt.eq(self.desc.drain - 1)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(dcnt == 0):
                    with m.If(self.desc.last):
                        m.d.comb += self.argmax_start.eq(1)
                        m.next = "ARGMAX"
                    with m.Else():
                        m.d.sync += pidx.eq(pidx + 1)
                        m.next = "RUN"
                with m.Else():
                    m.d.sync += dcnt.eq(dcnt - 1)
            with m.State("ARGMAX"):
                m.d.comb += self.argmax.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(self.argmax_last):
                    m.next = "DONE"
        m.d.comb += [
            self.busy.eq(~idle | start_pending),
            self.cycles.eq(cycles),
            self.loader_enable.eq(idle & ~self.start & ~start_pending),
            self.loader_restart.eq(idle & (self.start | start_pending) & ~self.loader_busy),
        ]
