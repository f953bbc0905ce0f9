"""``python -m search --mixed``: per-layer bit widths, s and (P, M), least energy and least
weight memory.

BOMP-NAS style (van Son et al. 2023): Optuna's TPE sampler proposes one width per
weighted layer (1..8) and a width scale s among those whose float network the uniform
search already trained; each proposal is then only a QAT fine-tune (the ordinary recipe
of `model.train`) from that cached float network; energy and weight memory are exact:
the cycle, resource and energy models at the best (P, M) that fits the board
(`design_point`: `search.design.best_design` on `intnet.arch.with_widths`, lanes as wide
as the widest layer), so (P, M) is searched exhaustively, not sampled. The study has two
objectives, energy and weight bits (multi-objective TPE), the accuracy requirement an
Optuna constraint; the result's ``chosen`` is the least-energy feasible design (ties:
fewer weight bits), ``least_weight`` the feasible design with the fewest weight bits
(ties: less energy), ``front`` every feasible design no other beats on both.

The QS-NAS uniform search (`search.qsnas.uniform_walk`: its grid ``q_samples ×
s_samples`` and the points its walk trained, all through the cache) is the warm start:
its networks enter the study as finished trials, and the first proposals, at the best
uniform design's s, are its nearest mixed neighbours (one layer narrower by one bit, and
by half), the lane-splitting designs of `split_widths` (a layer whose weights and inputs
fit in half or a quarter of the lane runs 2 or 4 values a lane, `sim.cycles`) and the
weight-lean `staircase_widths` (the layers with the most weights narrowest), which a
sampler that changes one width at a time would hardly reach.

With ``act_widths`` (``--act-widths``) each hidden layer's activation width is searched
apart from its weights' (HAQ's W:A widths, `intnet.arch.with_widths` pairs): weight memory
depends on the weights alone, so narrow weights under wider activations trade it against
accuracy; the neighbours then also narrow a layer's weights alone.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass, field

from intnet.arch import normal_scale, scale_key
from search.design import DesignDoesNotFit, best_design, evaluate

# Lane widths of the split proposals: the sub-lanes of a 4-bit lane hold 2 bits, of an
# 8-bit lane 4 or 2 (sub-lanes are at least 2 bits wide, `sim.cycles`).
SPLIT_LANES = (4, 8)


def widths_specs(arch: str, s: float, dataset: str, bits):
    """The layer list of ``arch`` at ``s`` on ``dataset`` with widths ``bits`` (a uniform q
    or one per weighted layer)."""
    from intnet.arch import network_specs, with_widths
    from model.data import dataset_shape

    return with_widths(network_specs(arch, s, *dataset_shape(dataset)), bits)


def lane_bits(bits) -> int:
    """The array's lane width for ``bits``: the widest layer's (weights or activations)."""
    from intnet.arch import widest_width

    return widest_width(bits) if isinstance(bits, tuple | list) else int(bits)


def design_point(specs, board: str, pe_list, mult_list) -> dict | None:
    """The least-energy (P, M) that fits for ``specs`` (with widths): its
    `search.design.evaluate` row plus ``weight_bits``, or None when nothing fits."""
    from hw.plan import widest_bits
    from model.bits import weight_bits

    lanes = widest_bits(specs)
    try:
        row = best_design(specs, lanes, board, pe_list, mult_list)
    except DesignDoesNotFit:
        return None
    return dict(row, weight_bits=weight_bits(specs))


def energy_cost(arch: str, s: float, dataset: str, board: str, pe_list, mult_list
                ) -> Callable[[tuple[int, ...]], float]:
    """``bits`` → µJ per inference at the best (P, M) (`design_point`), for learned widths
    (`model.bits`). Where no pair fits, the least energy of any pair (so the cost stays
    finite and ordered)."""

    def cost(bits: tuple[int, ...]) -> float:
        specs = widths_specs(arch, s, dataset, tuple(bits))
        row = design_point(specs, board, pe_list, mult_list)
        if row is not None:
            return float(row["energy_uj"])
        return min(evaluate(specs, lane_bits(bits), p, m, board)["energy_uj"]
                   for p in pe_list for m in mult_list)

    return cost


@dataclass
class Point:
    """One trained network of the search: widths, s, and what it measured."""

    bits: tuple  # `intnet.arch.normal_widths`: an int, or a (weights, activations) pair
    s: float | tuple  # `intnet.arch.normal_scale`: one width scale, or one per stage
    source: str  # "uniform" (the warm-start grid) or "mixed" (a TPE trial)
    accuracy: float | None = None  # integer (golden) test accuracy
    design: dict | None = None  # `design_point` row; None: nothing fits the board
    extra: dict = field(default_factory=dict)
    val_accuracy: float | None = None  # on the held-out training images (search --val)

    @property
    def uniform(self) -> bool:
        """A network of the QS-NAS family: one width everywhere, one scale."""
        return len(set(self.bits)) == 1 and isinstance(self.s, float)

    @property
    def selection(self) -> float | None:
        """The accuracy the search chooses on (`search.qsnas.selection_accuracy`)."""
        from search.qsnas import selection_accuracy

        return selection_accuracy({"accuracy": self.accuracy,
                                   "val_accuracy": self.val_accuracy})

    def as_dict(self) -> dict:
        from intnet.arch import scale_json, widths_json

        d = self.design or {}
        return {"bits": widths_json(self.bits), "q": lane_bits(self.bits),
                "s": scale_json(self.s),
                "source": self.source, "accuracy": self.accuracy,
                **({} if self.val_accuracy is None else {"val_accuracy": self.val_accuracy}),
                "energy_uj": d.get("energy_uj"), "pe": d.get("pe"), "mult": d.get("mult"),
                "cycles": d.get("cycles"), "bram36": d.get("bram36"),
                "weight_bits": d.get("weight_bits"), **self.extra}


def split_widths(n_layers: int) -> list[tuple[int, ...]]:
    """Widths of ``n_layers`` layers whose middle layers split the lanes: the first layer
    at the lane width L of `SPLIT_LANES` (it reads the 8-bit input, so it never splits,
    and has the fewest weights), the middle ones at L/2 or L/4 (≥ 2 bits), the last at L
    or at the middle width."""
    out = []
    for lane in SPLIT_LANES:
        for sub in (lane // 2, lane // 4):
            if sub < 2 or n_layers < 2:
                continue
            middle = (sub,) * (n_layers - 2)
            out += [(lane, *middle, lane), (lane, *middle, sub)]
    return out


def staircase_widths(counts: list[int], q: int) -> tuple[int, ...]:
    """Widths that step down from ``q`` one bit a layer in increasing weight count: the
    layer with the fewest weights at ``q``, the next at q − 1, …, none below 1 bit (the
    layers with the most weights hold most of the weight memory)."""
    order = sorted(range(len(counts)), key=lambda i: (counts[i], i))
    bits = [0] * len(counts)
    for step, i in enumerate(order):
        bits[i] = max(1, q - step)
    return tuple(bits)


def act_staircase(weights: tuple[int, ...], acts: int) -> tuple:
    """``weights`` with every hidden layer writing ``acts``-bit activations (at least its
    weights' width; the last layer writes logits): narrow weights under the activations
    of a wider uniform design (`intnet.arch.normal_widths`)."""
    from intnet.arch import normal_widths

    return normal_widths([(w, max(w, acts)) for w in weights[:-1]] + list(weights[-1:]))


def rank(point: Point) -> tuple:
    """The chosen point is the least (energy, weight bits) among the feasible."""
    return (point.design["energy_uj"], point.design["weight_bits"], lane_bits(point.bits),
            scale_key(point.s))


def rank_weight(point: Point) -> tuple:
    """The least-weight point is the least (weight bits, energy) among the feasible."""
    return (point.design["weight_bits"], point.design["energy_uj"], lane_bits(point.bits),
            scale_key(point.s))


def front(points: list[Point]) -> list[Point]:
    """The points no other point beats on both energy and weight bits (one of each tie),
    in increasing energy."""
    out: list[Point] = []
    for p in sorted(points, key=rank):
        if not out or p.design["weight_bits"] < out[-1].design["weight_bits"]:
            out.append(p)
    return out


class MixedStudy:
    """The TPE study over widths and s, with the uniform grid as its warm start.

    ``train(bits, s) -> dict`` (with ``accuracy``) runs through ``executor``; ``design(bits,
    s)`` gives the `design_point` row (None: does not fit).
    """

    def __init__(self, n_layers: int, s_values: list[float], target: float, seed: int,
                 design: Callable, act_widths: bool = False, stages: int = 0):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.n_layers, self.target, self.design = n_layers, target, design
        self.act_widths, self.stages = act_widths, stages
        # the scale parameters: one s, or with ``stages`` s0 … sk (`intnet.arch.stage_scales`)
        self.scale_names = [f"s{i}" for i in range(stages)] or ["s"]
        self.s_values = sorted(s_values)
        self.dist = {f"b{i}": optuna.distributions.IntDistribution(1, 8)
                     for i in range(n_layers)}
        if act_widths:  # the activations each hidden layer writes (the last writes logits)
            self.dist |= {f"a{i}": optuna.distributions.IntDistribution(1, 8)
                          for i in range(n_layers - 1)}
        # s as an index into the sorted scales: ordered for the sampler
        scale = optuna.distributions.IntDistribution(0, len(self.s_values) - 1)
        self.dist |= {name: scale for name in self.scale_names}
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
        self.study = optuna.create_study(directions=["minimize", "minimize"],
                                         sampler=sampler)
        self.points: dict[tuple, Point] = {}

    def _value(self, point: Point) -> tuple[list[float], float]:
        """([energy, weight bits], constraint) of a point (constraint ≤ 0: feasible)."""
        if point.design is None:
            return [1e9, 1e9], 1.0
        return ([point.design["energy_uj"], point.design["weight_bits"]],
                self.target - point.selection)

    def add_known(self, point: Point) -> None:
        """A trained point (the warm start) as a finished trial."""
        import optuna

        self.points[(point.bits, point.s)] = point
        scales = scale_key(point.s)
        if not all(v in self.s_values for v in scales) or len(scales) not in (
                1, len(self.scale_names)):
            return  # not a scale the sampler proposes: kept for the report only
        value, constraint = self._value(point)
        params = self._params(point.bits, point.s)
        self.study.add_trial(optuna.trial.create_trial(
            params=params, distributions=self.dist, values=value,
            constraints={"accuracy": constraint}))

    def enqueue_neighbours(self, point: Point) -> int:
        """Propose ``point`` with one layer narrower (by one bit, and to half its width)
        first, with ``act_widths`` its weights alone too; returns how many."""
        from intnet.arch import width_pair

        count = 0
        for i, (weights, acts) in enumerate(map(width_pair, point.bits)):
            last = i == len(point.bits) - 1
            for narrower in sorted({weights - 1, (weights + 1) // 2}, reverse=True):
                if not 1 <= narrower < weights:
                    continue
                kept = [(narrower, acts)] if self.act_widths and not last else []
                for entry in [narrower, *kept]:
                    bits = list(point.bits)
                    bits[i] = entry
                    self.study.enqueue_trial(self._params(bits, point.s),
                                             skip_if_exists=True)
                    count += 1
        return count

    def enqueue_splits(self, s: float) -> int:
        """Propose the lane-splitting widths (`split_widths`) at ``s``; returns how many."""
        widths = split_widths(self.n_layers)
        for bits in widths:
            self.study.enqueue_trial(self._params(bits, s), skip_if_exists=True)
        return len(widths)

    def staircases(self, q: int, counts: list[int]) -> list[tuple]:
        """The weight-lean `staircase_widths` from ``q`` and from q + 1 (≤ 8) (``counts``:
        weights per layer), with ``act_widths`` also their weights under activations kept
        at q and q + 1 (`act_staircase`)."""
        tops = (q, min(8, q + 1))
        widths = sorted({staircase_widths(counts, top) for top in tops})
        if self.act_widths:
            widths += sorted({act_staircase(staircase_widths(counts, top), act)
                              for top in tops for act in tops} - set(widths), key=str)
        return widths

    def enqueue_staircases(self, s: float, q: int, counts: list[int]) -> int:
        """Propose the `staircases` from ``q`` at ``s``; returns how many."""
        widths = self.staircases(q, counts)
        for bits in widths:
            self.study.enqueue_trial(self._params(bits, s), skip_if_exists=True)
        return len(widths)

    def enqueue_widened(self, s: float, q: int, counts: list[int], writers) -> int:
        """With ``stages``: the `staircases` from ``q`` with every stage whose channels a
        layer narrower than the widest writes (``writers``: `intnet.arch.stage_writers`)
        one scale wider than ``s`` (binary and ternary layers want more channels: ABC-Net,
        Bi-Real Net); returns how many."""
        from intnet.arch import width_pair

        wider = dict(zip(self.s_values, self.s_values[1:], strict=False))
        if not self.stages or s not in wider:
            return 0
        count = 0
        for bits in self.staircases(q, counts):
            weights = [width_pair(b)[0] for b in bits]
            scales = normal_scale([wider[s] if weights[w] < max(weights) else s
                                   for w in writers])
            if scales != s:
                self.study.enqueue_trial(self._params(bits, scales), skip_if_exists=True)
                count += 1
        return count

    def _params(self, bits, s: float) -> dict:
        from intnet.arch import width_pair

        pairs = [width_pair(b) for b in bits]
        params = {f"b{i}": w for i, (w, _) in enumerate(pairs)}
        if self.act_widths:
            params |= {f"a{i}": a for i, (_, a) in enumerate(pairs[:-1])}
        scales = (s,) * len(self.scale_names) if isinstance(s, float) else s
        return params | {name: self.s_values.index(v)
                         for name, v in zip(self.scale_names, scales, strict=True)}

    def _scale(self, params: dict) -> float | tuple:
        """The width scale a trial's parameters name (`intnet.arch.normal_scale`)."""
        return normal_scale([self.s_values[params[name]] for name in self.scale_names])

    def _bits(self, params: dict) -> tuple:
        """The widths a trial's parameters name (`intnet.arch.normal_widths`)."""
        from intnet.arch import normal_widths

        n = self.n_layers
        if not self.act_widths:
            return tuple(params[f"b{i}"] for i in range(n))
        return normal_widths([(params[f"b{i}"], params[f"a{i}"]) for i in range(n - 1)]
                             + [params[f"b{n - 1}"]])

    def _tell(self, trial, point: Point) -> None:
        value, constraint = self._value(point)
        trial.set_constraint("accuracy", constraint)
        self.study.tell(trial, value)

    def run(self, budget: int, train: Callable, executor: cf.Executor, jobs: int,
            progress: bool) -> None:
        """Ask, train and tell until ``budget`` new networks are trained (``jobs`` at once;
        points already known, and points that do not fit, cost nothing)."""
        from tqdm import tqdm

        pending: dict[cf.Future, tuple[tuple, list]] = {}
        trained, asked = 0, 0
        bar = tqdm(total=budget, desc="mixed trials", unit="net", disable=not progress)
        while (trained + len(pending) < budget and asked < 50 * budget) or pending:
            while (len(pending) < jobs and trained + len(pending) < budget
                   and asked < 50 * budget):
                asked += 1
                trial = self.study.ask(self.dist)
                key = (self._bits(trial.params), self._scale(trial.params))
                waiting = next((w for k, w in pending.values() if k == key), None)
                if waiting is not None:
                    waiting.append(trial)
                elif key in self.points:
                    self._tell(trial, self.points[key])
                else:
                    point = Point(*key, "mixed", design=self.design(*key))
                    if point.design is None:
                        self.points[key] = point
                        self._tell(trial, point)
                        continue
                    future = executor.submit(train, *key)
                    pending[future] = (key, [trial])
                    self.points[key] = point
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                key, trials = pending.pop(future)
                result = future.result()
                point = self.points[key]
                point.accuracy = result["accuracy"]
                point.val_accuracy = result.get("val_accuracy")
                point.extra = {k: result[k] for k in ("float_acc", "qat_seconds",
                                                      "float_seconds", "cached")}
                for trial in trials:
                    self._tell(trial, point)
                trained += 1
                bar.update()
        bar.close()


def run_mixed(cfg, trials: int, rtl_images: int = 0):
    """The mixed-precision search; returns ``(search.json content, chosen IntegerNetwork,
    least-weight IntegerNetwork or None where it is the chosen one)``."""
    import time
    from functools import partial

    from search.qsnas import (
        job_threads,
        measure_network,
        on_val,
        search_executor,
        split_fields,
        uniform_walk,
    )

    t0 = time.perf_counter()
    train = partial(_train_key, cfg.arch, cfg.dataset, cfg.data_dir, cfg.epochs, cfg.seed,
                    job_threads(cfg), cfg.val)
    with search_executor(cfg) as executor:  # one pool or Ray connection for the walk and TPE
        walked = uniform_walk(cfg, executor)
        study, layers = warm_study(cfg, walked)
        study.run(trials, train, executor, cfg.jobs, cfg.progress)
    every = list(study.points.values())
    feasible = [p for p in every if p.design is not None and p.selection is not None
                and p.selection >= cfg.target_acc]
    if not feasible:
        best = max((p.selection for p in every if p.selection is not None), default=None)
        raise ValueError(f"no trained network reached {cfg.target_acc}{on_val(cfg)} (the best "
                         f"measured {best:.4f}); try more --trials, or larger --s-samples")
    chosen, lean = min(feasible, key=rank), min(feasible, key=rank_weight)
    measured, net = measure_network(cfg, chosen.bits, chosen.s, rtl_images)
    if lean is chosen:
        lean_measured, lean_net = measured, None
    else:
        lean_measured, lean_net = measure_network(cfg, lean.bits, lean.s, rtl_images)
    names = [spec.name for spec in layers]
    result = {
        "target_acc": cfg.target_acc, "arch": cfg.arch, "dataset": cfg.dataset,
        "board": cfg.board, "strategy": "mixed", **split_fields(cfg, measured),
        "chosen": _policy(chosen, measured, names),
        # the trial's own measurement of the accuracy it was chosen on
        "predicted": {"accuracy": chosen.selection, "energy_uj": chosen.design["energy_uj"]},
        "measured": measured,
        # the feasible design with the fewest weight bits (may be the chosen one)
        "least_weight": {**_policy(lean, lean_measured, names), "measured": lean_measured},
        "front": [p.as_dict() for p in front(feasible)],
        # no regressors: every trial is trained, the energy evaluated exactly
        "regressors": {"accuracy": {"degree": None, "loo_rmse": None},
                       "energy": {"degree": None, "loo_mape": None}},
        "candidates_tried": [],
        "samples": [p.as_dict() for p in every],
        "trials": {"budget": trials, "trained": sum(p.source == "mixed" and p.accuracy
                                                     is not None for p in every),
                   "warm_start": len(walked.results)},
        "trained": sum(p.accuracy is not None for p in every),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    return result, net, lean_net


# The step of the per-stage width scales (`stage_grid`): one eighth of the base channels
# (vgg 2, 4, 8 channels a step).
STAGE_STEP = 0.125


def stage_grid(s_values: list[float]) -> list[float]:
    """The scales each stage may take with ``--stage-scales``: ``s_values`` (the uniform
    walk's, whose networks enter the study) and every multiple of `STAGE_STEP` between the
    least and the greatest. Finer than the walk's grid, whose steps (0.5 → 1 → 2) double
    a stage; each new shape trains its own float network anyway."""
    lo, hi = min(s_values), max(s_values)
    steps = range(int(-(-lo // STAGE_STEP)), int(hi // STAGE_STEP) + 1)
    return sorted(set(s_values) | {k * STAGE_STEP for k in steps})


def warm_study(cfg, walked) -> tuple[MixedStudy, list]:
    """The study with the uniform walk's networks as finished trials and, at the best
    uniform design's s, its neighbours, the split widths and the staircases enqueued (with
    ``act_widths`` the staircases first; with ``stage_scales`` next the staircases on
    wider stages, `MixedStudy.enqueue_widened`); and the weighted layers."""
    from intnet.arch import stage_count, stage_writers

    uniform = walked.results
    s_values = sorted({s for _, s in uniform})  # their float networks are cached
    layers = [spec for spec in widths_specs(cfg.arch, s_values[-1], cfg.dataset, 8)
              if spec.w_bits]

    def design(bits, s):
        return design_point(widths_specs(cfg.arch, s, cfg.dataset, tuple(bits)), cfg.board,
                            cfg.pe_list, cfg.mult_list)

    stages = stage_count(cfg.arch) if cfg.stage_scales else 0
    study = MixedStudy(len(layers), stage_grid(s_values) if stages else s_values,
                       cfg.target_acc, cfg.seed, design, act_widths=cfg.act_widths,
                       stages=stages)
    for (q, s), r in sorted(uniform.items()):
        bits = (q,) * len(layers)
        study.add_known(Point(bits, s, "uniform", r["accuracy"], design(bits, s),
                              {k: r[k] for k in ("float_acc", "qat_seconds", "float_seconds")},
                              r.get("val_accuracy")))
    if walked.found.chosen is None:
        return study, layers
    q, s = walked.found.chosen
    counts = weight_counts(widths_specs(cfg.arch, s, cfg.dataset, q))
    if cfg.act_widths and s in s_values:  # first: with its W:A neighbours the list outruns 24
        study.enqueue_staircases(s, q, counts)
    study.enqueue_widened(s, q, counts, stage_writers(cfg.arch))  # with stages only
    study.enqueue_neighbours(study.points[((q,) * len(layers), s)])
    if s in s_values:
        study.enqueue_splits(s)
        if not cfg.act_widths:
            study.enqueue_staircases(s, q, counts)
    return study, layers


def weight_counts(specs) -> list[int]:
    """Weights of each weighted layer of ``specs``."""
    import math

    from intnet.contract import WEIGHTED_KINDS, weight_shape

    return [math.prod(weight_shape(spec)) for spec in specs if spec.kind in WEIGHTED_KINDS]


def _policy(point: Point, measured: dict, names: list[str]) -> dict:
    from intnet.arch import scale_json, widths_json

    bits = widths_json(point.bits)
    return {"q": lane_bits(point.bits), "s": scale_json(point.s), "pe": measured["pe"],
            "mult": measured["mult"], "bits": bits,
            "layers": dict(zip(names, bits, strict=True)), "mixed": not point.uniform,
            **{k: measured[k] for k in ("val_accuracy",) if k in measured}}


def _train_key(arch, dataset, data_dir, epochs, seed, threads, val, bits, s) -> dict:
    """`search.qsnas.train_point` of per-layer widths ``bits`` at ``s`` (a worker job)."""
    from search.qsnas import train_point

    return train_point(arch, lane_bits(bits), s, dataset, data_dir, epochs, seed, threads,
                       bits=tuple(bits), val=val)
