"""The layer sequencer: walks the descriptor and group tables and issues MAC steps.

Stage S0 of the pipeline. The descriptor table (one word per pass) and the group table
(one word per group of P output channels) are small LUT ROMs; their words are loaded
into registers before they are used (the pass's at LOAD, the next group's read ahead
every cycle), so no table read stands in front of an address. A `hw.address.Walker`
walks the current pass, a `hw.address.StepIssue` registers what the memories see.

The FSM: IDLE → LOAD → INIT → RUN → DRAIN (the pipeline empties between passes) →
LOAD … → ARGMAX (after the last pass) → DONE; ``cycles`` counts every state from LOAD
to ARGMAX, as the cycle model does.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.address import StepIssue, Walker, control_layout, memory_ports
from hw.plan import Plan
from hw.tables import bits, descriptor_table, group_table


class Sequencer(wiring.Component):
    """S0 for ``plan``; ``nports`` activation read ports (P in pixel-parallel designs).

    ``desc`` is the current pass's descriptor (a register), ``ctl`` the control word of
    the step the memories see this cycle (valid with ``ctl.valid``), with the read
    addresses and enables of `hw.address.StepIssue`.
    """

    def __init__(self, plan: Plan, addr_bits: int, nports: int):
        self._plan, self._addr_bits, self._nports = plan, addr_bits, nports
        self.desc_table = descriptor_table(plan)
        self.group_table = group_table(plan)
        self.ctl_layout = control_layout(plan, self.desc_table, self.group_table, addr_bits,
                                         nports)
        super().__init__({
            "start": In(1),
            "loader_busy": In(1),
            "argmax_done": In(1),  # the argmax scan has seen the last class
            "loader_enable": Out(1),
            "loader_restart": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "argmax": Out(1),  # in the argmax scan
            "argmax_start": Out(1),  # the scan begins next cycle
            "cycles": Out(32),
            "desc": Out(self.desc_table.layout),
            "ctl": Out(self.ctl_layout),
            **memory_ports(addr_bits, nports, self.group_table),
        })

    def elaborate(self, platform):
        m = Module()
        plan, dt, gt = self._plan, self.desc_table, self.group_table
        pidx = Signal(range(max(2, len(plan.passes))))
        gidx = Signal(range(len(gt.words)))
        m.submodules.desc_rom = desc_rom = Memory(shape=dt.layout.size, depth=len(dt.words),
                                                  init=dt.words)
        m.submodules.group_rom = group_rom = Memory(shape=gt.layout.size,
                                                    depth=len(gt.words), init=gt.words)
        desc_rp = desc_rom.read_port(domain="comb")
        group_rp = group_rom.read_port(domain="comb")
        ahead_rp = group_rom.read_port(domain="comb")
        grp, grp_next = Signal(gt.layout), Signal(gt.layout)
        m.d.comb += [desc_rp.addr.eq(pidx), group_rp.addr.eq(gidx), ahead_rp.addr.eq(gidx + 1)]
        m.d.sync += grp_next.eq(ahead_rp.data)  # the next group's word, read ahead
        m.submodules.walker = walker = Walker(plan, dt, gt, self._addr_bits)
        m.submodules.issue = issue = StepIssue(plan, dt, gt, self._addr_bits, self._nports)
        m.d.comb += [
            walker.desc.eq(self.desc), walker.grp.eq(grp), walker.grp_next.eq(grp_next),
            issue.desc.eq(self.desc), issue.cur.eq(walker.cur), issue.gidx.eq(gidx),
            self.ctl.eq(issue.ctl), self.act_addr.eq(issue.act_addr),
            self.act_en.eq(issue.act_en), self.image_en.eq(issue.image_en),
            self.pe_addr.eq(issue.pe_addr), self.pe_en.eq(issue.pe_en),
            self.weight_addr.eq(issue.weight_addr), self.weight_en.eq(issue.weight_en),
        ]
        with m.If(walker.group_switch | walker.pass_end):
            m.d.sync += gidx.eq(gidx + 1)
        self._fsm(m, walker, issue, pidx, gidx, grp, desc_rp, group_rp)
        return m

    def _fsm(self, m, walker, issue, pidx, gidx, grp, desc_rp, group_rp):
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
                        m.d.sync += [start_pending.eq(0), cycles.eq(0), pidx.eq(0),
                                     gidx.eq(0)]
                        m.next = "LOAD"
                    if name == "DONE":
                        m.d.comb += self.done.eq(~start_pending)
            with m.State("LOAD"):  # the pass's descriptor and first group into registers
                m.d.sync += [cycles.eq(cycles + 1), self.desc.eq(desc_rp.data),
                             grp.eq(group_rp.data)]
                m.d.comb += walker.prime.eq(1)
                m.next = "INIT"
            with m.State("INIT"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += [walker.init.eq(1), issue.init.eq(1)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += [walker.run.eq(1), issue.run.eq(1)]
                with m.If(walker.pass_end):
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
                        m.next = "LOAD"
                with m.Else():
                    m.d.sync += dcnt.eq(dcnt - 1)
            with m.State("ARGMAX"):
                m.d.comb += self.argmax.eq(1)
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(self.argmax_done):
                    m.next = "DONE"
        m.d.comb += [
            self.busy.eq(~idle | start_pending),
            self.cycles.eq(cycles),
            self.loader_enable.eq(idle & ~self.start & ~start_pending),
            self.loader_restart.eq(idle & (self.start | start_pending) & ~self.loader_busy),
        ]
