"""Analytical cycle and event model of the hw/ accelerator (no simulation).

The count equals the RTL's ``cycles`` output exactly: the clock cycles from the cycle
after ``start`` is sampled up to the cycle ``done`` rises, i.e. every pass of the
network plus the final argmax. Loading the image through the stream happens before
``start`` and is not included (``image_load_cycles`` reports it separately).

Per pass (a compute layer with its fused max pool; `hw.plan.plan_network` makes the
plan), summed over the pass's groups::

    cycles(pass) = PASS_LOAD + Σ_groups pixels · slot_g + drain
    steps_g      = KH·KW·cg_cnt_g               (MAC cycles per output pixel)
    slot_g       = max(steps_g, slot_min)
    slot_min     = W                            (W: most words a group writes per pixel,
                                                 0 for the logits, P in MODE_DWP)
                 = max(W, M)                    (pixel-parallel depthwise, MODE_DWP)
                 = ⌈max(P, M) / pixels⌉         (MODE_DWP global average pool)
                 ≥ 2 where a group has one pixel (the next group's word is read ahead)
                 ≥ W + 1 in a paired pass (its second sums a cycle behind: ≥ 2)
    drain        = CONV_DRAIN + T + W           (T: adder-tree registers, `tree_stages`;
                                                 + 1 in a paired pass; + max(1, W) − 1
                                                 where a pass reuses weights: its pairs'
                                                 second sums wait in the hand-over)
                 = DWP_DRAIN + M + W            (MODE_DWP: the lane serializer)

(`hw.plan` holds the constants and derives them from the pipeline's stages), and the
network ends with ``3·num_classes + 1`` argmax cycles (`hw.plan.argmax_cycles`). The terms:

- conv, dense, and dwconv/avgpool outside MODE_DWP: one group per P output channels;
  ``pixels = PH·PW`` (the grid written), ×4 with a fused max pool (the conv outputs
  before the pool; an odd last row or column is skipped). ``cg_cnt`` is the input words
  read per tap: ⌈Cin/M⌉ for conv and dense, the words holding the group's channels for
  dwconv and avgpool. The first conv runs as a 1×1 conv over the loader's unrolled
  ``K²·Cin`` virtual channels; dense and avgpool take the whole input map as their
  kernel (one output pixel).
- a paired pass (`hw.plan.pairs_channels`: a split conv or dense pass whose input
  channels fit half the lanes' sub-lanes) has one group per 2P output channels, where
  that saves cycles; PE j's two accumulators count twice in ``acc_updates`` and its two
  sums in ``requant_ops``.
- MODE_DWP (dwconv or global avgpool with P ≥ M, no fused pool, not the last pass): PE
  j computes output pixel ``x·P + j`` of a row's segment x, so ``pixels = Ho·⌈Wo/P⌉``
  segments; one group per channel word (⌈C/(k_in·M)⌉ groups: a dwconv reading a map
  split k_in ways keeps k_in sub-lane sums per lane and requantizes them on k_in
  requantizers per PE, so the slot stays ``max(9, M, P)``), ``cg_cnt = 1``; the avgpool
  walks its H×W input with a 1×1 kernel.

Everything depends on shapes, ``q``, ``P`` and ``M`` only, so shape-only
`intnet.arch.LayerSpec` lists work too.

Events: the first pass multiplies q-bit weights by whole 8-bit pixels read from the
image buffer on every PE's own F lanes (`hw.plan.image_lanes`), so its multiplies
(``first_mult_ops``, q × 8 bits), adds (``first_adder_ops``), weight reads
(``first_weight_reads``, from its own ROM) and image reads (``image_reads``, words of
``image_word_bits``) are counted apart from the q × q multiplies (``mult_ops``) and
activation-buffer reads (``act_reads``) of later passes;
``image_writes`` are the loader's one-byte writes of one image, ``first_mac_ops`` the
first layer's share of ``mac_ops``, ``first_active_pe_cycles`` its share of
``active_pe_cycles`` (the PE-cycles with a lane busy).
"""

from __future__ import annotations

import math

from hw.packing import param_bits
from hw.plan import MODE_DW, MODE_DWP, PASS_LOAD, Plan, argmax_cycles, load_cycles, plan_network
from intnet.contract import ceil_div, layer_widths
from intnet.contract import macs as layer_macs

SPLIT_EVENTS = {2: "mult_ops_split2", 4: "mult_ops_split4"}  # lane splits of an 8-bit lane


def _valid_taps(out_count: int, stride: int, k: int, pad: int, size: int) -> int:
    """Σ over output positions of the kernel taps that land inside the input (not padding)."""
    total = 0
    for o in range(out_count):
        lo = o * stride - pad
        total += sum(1 for t in range(k) if 0 <= lo + t < size)
    return total


def pass_cycles(plan: Plan, p) -> int:
    return PASS_LOAD + sum(p.pixels * g.slot for g in p.groups) + p.drain


def first_lane_weights(plan: Plan) -> dict:
    """How many distinct weights each first-pass lane of each PE holds over its ROM:
    ``holding`` PEs hold a first-layer channel (PE j channels j, j + P, …); over all PEs,
    ``const_lanes`` lanes hold one weight (a constant in every word that uses the lane:
    synthesis folds it into the lane's multiplier), ``pair_lanes`` two and ``var_lanes``
    more (`hw.packing`: lane l of a channel's word w carries its input w·F + l)."""
    p, P, F = plan.passes[0], plan.pe_count, plan.image_lanes
    taps = [p.kh * p.kw * sum(1 for w in range(ceil_div(p.cin, F)) if w * F + lane < p.cin)
            for lane in range(F)]
    held = [len(range(j, p.cout, P)) for j in range(P)]
    values = [h * t for h in held for t in taps]
    return {"holding": sum(1 for h in held if h), "const_lanes": values.count(1),
            "pair_lanes": values.count(2), "var_lanes": sum(1 for v in values if v > 2)}


def memories(plan: Plan) -> list[dict]:
    """Every on-chip memory: name, kind, width_bits, depth, instances."""
    P = plan.pe_count
    # a buffer pixel-parallel passes read has P read ports and one write port, i.e. P
    # replicas (a block RAM's second port takes the writes, which run beside the reads),
    # every write going to all of them
    replicas = plan.act_read_ports
    notes = [f"{r} read ports for pixel-parallel depthwise: {r} replicas" if r > 1 else ""
             for r in replicas]
    return [
        {"name": "first_weights", "kind": "first_weight", "width_bits": plan.first_word_bits,
         "depth": plan.first_weight_depth, "instances": P,
         **first_lane_weights(plan),
         "note": "the first pass's weights, F lanes a word"},
        {"name": "weights", "kind": "weight", "width_bits": plan.word_bits,
         "depth": max(1, plan.weight_depth), "instances": P},
        {"name": "params", "kind": "param", "width_bits": param_bits(plan),
         "depth": plan.group_count, "instances": P},
        {"name": "image", "kind": "image", "width_bits": plan.image_word_bits,
         "depth": plan.image_depth, "instances": 1,
         "note": "the input image unrolled for the first layer, one 8-bit pixel per lane"},
        {"name": "act0", "kind": "act", "width_bits": plan.word_bits,
         "depth": plan.act_depth[0], "instances": replicas[0], "note": notes[0]},
        {"name": "act1", "kind": "act", "width_bits": plan.word_bits,
         "depth": plan.act_depth[1], "instances": replicas[1], "note": notes[1]},
        {"name": "descriptors", "kind": "other", "width_bits": 0, "depth": len(plan.passes),
         "instances": 1, "note": "LUT ROM, one word per pass"},
        {"name": "groups", "kind": "other", "width_bits": 0, "depth": plan.group_count + 1,
         "instances": 1, "note": "LUT ROM, one word per output-channel group"},
        {"name": "logits", "kind": "other", "width_bits": 32, "depth": plan.num_classes,
         "instances": 1, "note": "registers"},
    ]


def _add_group_events(ev: dict, p, g, P: int, M: int, lanes: int, taps: int) -> None:
    """Add group ``g`` of pass ``p`` to the event counts ``ev`` (``lanes``: multipliers a
    PE uses in this pass; ``taps``: valid input positions of its grid)."""
    steps = p.pixels * g.steps
    ev["first_mult_ops" if p.first else "mult_ops"] += steps * P * lanes
    if p.k_in > 1:  # of which lane-steps split into k_in narrow products
        ev[SPLIT_EVENTS[p.k_in]] += steps * P * lanes
    ev["param_reads"] += P
    if p.mode == MODE_DWP:
        # pixel-parallel depthwise: PE j = output pixel, lanes accumulate separately,
        # a lane split k_in ways in k_in sub-lane sums (k_in requantizers per PE)
        ev["acc_updates"] += steps * P * M * p.k_in
        ev["weight_reads"] += steps  # PE 0's word is broadcast
        pe_steps = p.opix * g.steps  # PE-steps of the pixels' PEs
        ev["active_pe_cycles"] += pe_steps
        ev["act_reads"] += taps
        requants = (1 if p.gsum else p.pixels) * P * M * p.k_in
        ev["requant_ops"] += requants
        # what loads the pixel-parallel hardware's own flip-flops (`sim.resources`
        # groups dwp_lanes, dwp_out), which hold still in every other pass
        ev["dwp_pe_cycles"] += pe_steps
        ev["dwp_requant_ops"] += requants
        ev["act_writes"] += p.ph * p.pw
        if p.gsum:  # the sum across PEs: M adder trees of P inputs
            ev["adder_ops"] += M * (P - 1)
        return
    ev["first_adder_ops" if p.first else "adder_ops"] += steps * P * (lanes - 1)
    sums = 2 if p.pair else 1  # a paired pass: two accumulators and sums per PE
    ev["acc_updates"] += steps * P * sums
    # weight reuse (`hw.plan.reuses_weights`): one read per step of a pixel pair,
    # both accumulators loaded every step, a pair's second sum waits (gap > 0)
    ev["first_weight_reads" if p.first else "weight_reads"] += steps * P // p.reuse
    if p.reuse > 1:
        ev["reuse_pe_steps"] += steps * P
        ev["held_sums"] += p.pixels // 2 * P if p.reuse_gap else 0
    ev["active_pe_cycles"] += steps * min(P, p.cout - g.cbase)
    if p.first:
        ev["first_active_pe_cycles"] += steps * min(P, p.cout - g.cbase)
    ev["image_reads" if p.first else "act_reads"] += taps * g.cg_cnt
    if not p.last:
        ev["requant_ops"] += p.pixels * P * sums
        ev["act_writes"] += p.ph * p.pw * g.wo_cnt


def cycle_model(layers, q: int, pe_count: int, mults_per_pe: int,
                weight_reuse: bool = False) -> dict:
    """Cycles, physical bound, per-layer ratios and widths, energy events and memories.

    ``layers``: bundle `Layer`s or `intnet.arch.LayerSpec`s (shapes and, where given, bit
    widths); ``q`` the lane width (layers without widths run at it). A layer whose
    weights and inputs fit ``q // k`` bits runs k values per lane (``lane_split``).
    ``weight_reuse``: the hardware built with it (`hw.plan.plan_network`): passes that
    reuse (``weight_reuse`` per layer) read each weight word once per pixel pair.
    """
    layers = list(layers)
    plan = plan_network(layers, q, pe_count, mults_per_pe, weight_reuse)
    P, M = pe_count, mults_per_pe
    F = plan.image_lanes
    widths = dict(weight_word_bits=plan.word_bits, act_word_bits=plan.word_bits,
                  first_weight_word_bits=plan.first_word_bits,
                  image_word_bits=plan.image_word_bits, param_word_bits=param_bits(plan))

    def zero_events() -> dict:
        return dict(cycles=0, mac_ops=0, first_mac_ops=0, mult_ops=0, first_mult_ops=0,
                    adder_ops=0, first_adder_ops=0, acc_updates=0, requant_ops=0,
                    weight_reads=0, first_weight_reads=0, act_reads=0, act_writes=0,
                    image_reads=0, image_writes=0, param_reads=0, active_pe_cycles=0,
                    first_active_pe_cycles=0, reuse_pe_steps=0, held_sums=0,
                    dwp_pe_cycles=0, dwp_requant_ops=0, act_copy_writes=0,
                    **dict.fromkeys(SPLIT_EVENTS.values(), 0),
                    **widths)

    per_layer: dict[str, int] = {}
    layer_events: dict[str, dict] = {}
    for i, p in enumerate(plan.passes):
        cyc = pass_cycles(plan, p)
        if i == len(plan.passes) - 1:
            cyc += argmax_cycles(plan.num_classes)  # the argmax scan over the logits
        per_layer[p.name] = cyc
        ev = layer_events[p.name] = zero_events()
        ev["cycles"] = cyc
        ps = p.pool_size
        grid = (p.oh, p.ow) if p.mode == MODE_DWP else (p.ph * ps, p.pw * ps)
        rows = _valid_taps(grid[0], p.stride, p.kh, p.pad, p.ih)
        cols = _valid_taps(grid[1], p.stride, p.kw, p.pad, p.iw)
        if p.first:  # the loader's writes: one byte per (pixel, channel, tap in the grid)
            ev["image_writes"] = plan.input_shape[2] * (
                _valid_taps(plan.load_h, plan.load_stride, plan.load_k, plan.load_pad,
                            plan.input_shape[0])
                * _valid_taps(plan.load_w, plan.load_stride, plan.load_k, plan.load_pad,
                              plan.input_shape[1]))
        lanes = F if p.first else M  # the first pass runs on the PEs' own F lanes
        for g in p.groups:
            _add_group_events(ev, p, g, P, M, lanes, rows * cols)
        # every write also goes to the written buffer's other replicas (`memories`)
        ev["act_copy_writes"] = ev["act_writes"] * (plan.act_read_ports[1 - p.src] - 1)
    out_layers = []
    split = {name: p.k_in for p in plan.passes for name in p.layer_names}
    paired = {name for p in plan.passes if p.pair for name in p.layer_names}
    reuse = {name: p.reuse for p in plan.passes for name in p.layer_names}
    for layer, w in zip(layers, layer_widths(layers, q), strict=True):
        macs = layer_macs(layer)
        bound = math.ceil(macs / (P * M))
        cyc = per_layer.get(layer.name, 0)
        # a fused layer (e.g. a max pool in its conv's write-back) has no events of its own
        lev = layer_events.get(layer.name, zero_events())
        lev["mac_ops"] = macs
        if layer is layers[0]:
            lev["first_mac_ops"] = macs
        out_layers.append({"name": layer.name, "kind": layer.kind, "w_bits": w.w_bits or None,
                           "in_bits": w.in_bits, "out_bits": w.out_bits,
                           "lane_split": split.get(layer.name, 1),
                           "channel_pairs": layer.name in paired,
                           "weight_reuse": reuse.get(layer.name, 1), "cycles": cyc,
                           "physical_bound": bound, "macs": macs,
                           "ratio": round(cyc / bound, 4) if bound else None,
                           "events": lev})
    ev = zero_events()
    for lev in (x["events"] for x in out_layers):
        for key in ev:
            if key not in widths:
                ev[key] += lev[key]
    total = ev["cycles"]
    mac_ops = ev["mac_ops"]
    bound = sum(x["physical_bound"] for x in out_layers)
    return {
        "cycles": total,
        "physical_bound": bound,
        "ratio": round(total / bound, 4) if bound else None,
        "mac_ops": mac_ops,
        "q": q, "lane_bits": q, "lane_splits": list(plan.splits), "pe": P, "mult": M,
        "channel_pairs": plan.pairs, "weight_reuse": plan.reuses,
        # the widest split a pixel-parallel depthwise pass reads (requantizers per PE);
        # whether some pass runs pixel-parallel, and whether one of those is a summing
        # average pool (the hardware `hw.top` builds for them)
        "dwp_lane_split": plan.dwp_split,
        "pixel_parallel": plan.pixel_parallel,
        "dwp_summing": plan.dwp_summing,
        # whether some pass has PE j use only its own channel's lane (`MODE_DW`): only then
        # do the lane enables differ between PEs (`hw.operands`)
        "depthwise_lanes": any(p.mode == MODE_DW for p in plan.passes),
        "addr_bits": plan.addr_bits,  # an activation address (`hw.top`)
        "image_load_cycles": load_cycles(plan),
        "image_lanes": F,
        "layers": out_layers,
        "events": ev,
        "memories": memories(plan),
    }


def network_cycle_model(net, pe_count: int, mults_per_pe: int,
                        weight_reuse: bool = False) -> dict:
    """`cycle_model` of a loaded `IntegerNetwork` on lanes of its ``q`` (its widest width)."""
    return cycle_model(net.layers, net.q, pe_count, mults_per_pe, weight_reuse)
