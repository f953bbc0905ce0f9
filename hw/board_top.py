"""Self-test top level for a development board.

After reset, and again on every press of button 0, it streams a built-in test image
from an on-chip ROM into the accelerator, runs one inference, and shows the class on
the board's LEDs (binary, LED 0 = bit 0). If the board has one more LED than the class
needs, it lights when the class equals the image's expected label. This proves a
bitstream end to end without any host interface; the accelerator itself
(`hw.top.Accelerator`) keeps its stream ports for real integrations.
"""

from __future__ import annotations

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.memory import Memory

from hw.clocking import ClockGenerator, ClockPlan
from hw.top import Accelerator


def _request_all(platform, name: str, limit: int = 8) -> list:
    """Raw ports of resources ``name`` 0, 1, … as far as the board has them."""
    found = []
    for i in range(limit):
        try:
            found.append(platform.request(name, i, dir="-"))
        except ResourceError:
            break
    return found


class BoardTop(wiring.Component):
    """The accelerator plus an image ROM, a run FSM, a button and LEDs.

    Parameters
    ----------
    network
        Duck-typed integer network (``.layers``, ``.input_shape``).
    pe_count, mults_per_pe
        Array size.
    image
        The built-in test image, H×W×C bytes in H, W, C order.
    expected_class
        The class the golden model gives ``image`` (drives the match LED).
    mem_dir
        Passed to `Accelerator`: where its ``$readmemh`` weight files are found.
    clock
        A `hw.clocking.ClockPlan`: the design runs from the family's PLL at its output
        frequency; None runs it from the board's oscillator.
    mult_impl, weight_reuse
        Passed to `Accelerator`.
    """

    def __init__(self, network, pe_count: int, mults_per_pe: int, image, expected_class: int,
                 *, mem_dir: str | None = None, clock: ClockPlan | None = None,
                 mult_impl: str = "lut", weight_reuse: bool = False):
        self.accel = Accelerator(network, pe_count, mults_per_pe, mem_dir=mem_dir,
                                 mult_impl=mult_impl, weight_reuse=weight_reuse)
        self._image = [int(v) for v in list(image.reshape(-1))]
        if not self._image or any(not 0 <= v < 256 for v in self._image):
            raise ValueError("image must be a non-empty array of bytes")
        self._expected = int(expected_class)
        self._clock = clock
        super().__init__({})  # no ports: the board's buttons and LEDs are requested

    def elaborate(self, platform):
        m = Module()
        if self._clock is not None and platform is not None:
            # the PLL takes the oscillator: iCE40's PLL pad wants the package pin itself,
            # the others its input buffer
            pin = platform.request(platform.default_clk, dir="-")
            if self._clock.family != "ice40":
                m.submodules.clk_buf = clk_buf = io.Buffer("i", pin)
                pin = clk_buf.i
            m.domains.sync = ClockDomain("sync")  # driven by the PLL below
            m.submodules.clocking = ClockGenerator(self._clock, pin)
        m.submodules.accel = accel = self.accel
        m.submodules.image_rom = rom = Memory(shape=8, depth=len(self._image), init=self._image)
        rd = rom.read_port(domain="comb")
        addr = Signal(range(len(self._image) + 1))
        m.d.comb += [rd.addr.eq(addr), accel.image.payload.eq(rd.data)]

        press = Signal()
        if platform is not None:
            buttons = _request_all(platform, "button", 1)
            if buttons:
                m.submodules.button = button = io.Buffer("i", buttons[0])
                m.submodules.button_sync = FFSynchronizer(button.i, press)
        pressed_before = Signal()
        m.d.sync += pressed_before.eq(press)
        restart = press & ~pressed_before

        cls = Signal.like(accel.class_out)
        finished = Signal()
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += accel.image.valid.eq(1)
                with m.If(accel.image.ready):
                    m.d.sync += addr.eq(addr + 1)
                    with m.If(addr == len(self._image) - 1):
                        m.next = "START"
            with m.State("START"):
                m.d.comb += accel.start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(accel.done):
                    m.d.sync += [cls.eq(accel.class_out), finished.eq(1)]
                    m.next = "SHOW"
            with m.State("SHOW"):
                with m.If(restart):
                    m.d.sync += [addr.eq(0), finished.eq(0)]
                    m.next = "LOAD"

        if platform is not None:
            leds = _request_all(platform, "led")
            bits = len(cls)
            outs = []
            for i, port in enumerate(leds[: bits + 1]):
                m.submodules[f"led{i}"] = buffer = io.Buffer("o", port)
                outs.append(buffer.o)
            for i, led in enumerate(outs[:bits]):
                m.d.comb += led.eq(finished & cls[i])
            if len(outs) > bits:
                m.d.comb += outs[bits].eq(finished & (cls == self._expected))
        return m
