"""Net: builds layers from a NetParameter (prototxt), wires blobs, runs forward and backward.

Follows Caffe's Net::Init: NetState filtering (phase, level, stages), net-level inputs turned into an
Input layer, automatic Split layers for blobs with several consumers (and for loss blobs that are also
consumed), in-place layers sharing one Blob, parameter sharing by ``param { name }``, loss weights kept in
the loss blobs' diffs, and Caffe's rules for which layers and bottoms need backward. The Python API is
pycaffe's (``net.blobs``, ``net.params``, ``forward``, ``backward``...).
"""
import collections
import contextlib
import importlib
import itertools
import logging
import os

import numpy as np

from . import layer_types as _layer_types  # noqa: F401  (registers every layer type)
from . import mode
from .backend import K
from .blob import Blob
from .layer import PHASES, REGISTRY, TEST, TRAIN, Layer, LayerError
from .layer_types import sequence_data
from .proto.message import Message as PbMessage
from .proto.message import to_text_message
from .proto.text import Message, parse_file

log = logging.getLogger("lrcn_native")


class NetError(ValueError):
    pass


# --- NetState filtering (CAFFE_FACTS.md §2) ----------------------------------------------------
def _rule_met(rule, phase, level, stages):
    if "phase" in rule and rule.enum("phase", None, PHASES) != PHASES[phase]:
        return False
    if "min_level" in rule and level < rule.int("min_level"):
        return False
    if "max_level" in rule and level > rule.int("max_level"):
        return False
    if any(s not in stages for s in rule.strs("stage")):
        return False
    if any(s in stages for s in rule.strs("not_stage")):
        return False
    return True


def _included(lp, phase, level, stages):
    includes, excludes = lp.msgs("include"), lp.msgs("exclude")
    if includes and excludes:
        raise lp.error("include", f"layer '{lp.str('name')}' has both include and exclude rules")
    if includes:
        return any(_rule_met(r, phase, level, stages) for r in includes)
    return not any(_rule_met(r, phase, level, stages) for r in excludes)


def _state_hint(lps, phase, level, stages):
    """'; the file's rules name stages ... and levels ...' when its layers have stage or level rules."""
    named, levels = [], []
    for lp in lps:
        for rule in lp.msgs("include") + lp.msgs("exclude"):
            named += [s for s in rule.strs("stage") + rule.strs("not_stage") if s not in named]
            levels += [f"{f} {rule.int(f)}" for f in ("min_level", "max_level")
                       if f in rule and f"{f} {rule.int(f)}" not in levels]
    if not named and not levels:
        return ""
    declared = "; ".join(part for part in (f"stages {', '.join(named)}" if named else "",
                                           f"levels {', '.join(levels)}" if levels else "") if part)
    return (f"\n(built for phase {PHASES[phase]}, level {level}, stages [{', '.join(stages)}]; the file's "
            f"include/exclude rules name {declared}: give the ones its solver's train_state/test_state sets, "
            f"e.g. --stage/--level or Net(..., level=, stages=))")


def _layer_params(netp):
    """The net's layer messages, with net-level inputs (input/input_dim/input_shape) as an Input layer."""
    layers = list(netp.msgs("layer"))
    inputs = netp.strs("input")
    if inputs:
        dims, shapes = netp.ints("input_dim"), netp.msgs("input_shape")
        inp = Message(netp.filename, *netp.where["input"][0])
        inp.add("name", "input")
        inp.add("type", "Input")
        param = Message(netp.filename)
        for name in inputs:
            inp.add("top", name)
        if shapes:
            if len(shapes) != len(inputs):
                raise netp.error("input_shape", f"{len(inputs)} inputs but {len(shapes)} input_shape entries")
            for s in shapes:
                param.add("shape", s)
        elif dims:
            if len(dims) != 4 * len(inputs):
                raise netp.error("input_dim", f"{len(inputs)} inputs need {4 * len(inputs)} input_dim values, "
                                              f"got {len(dims)}")
            for i in range(len(inputs)):
                s = Message(netp.filename)
                for d in dims[4 * i:4 * i + 4]:
                    s.add("dim", d)
                param.add("shape", s)
        else:
            raise netp.error("input", "net-level 'input' needs input_shape or input_dim")
        inp.add("input_param", param)
        layers.insert(0, inp)
    elif netp.all("input_dim") or netp.all("input_shape"):
        raise netp.error("input_dim" if netp.all("input_dim") else "input_shape", "input_dim/input_shape without 'input'")
    return layers


def _insert_splits(lps):
    """Caffe's InsertSplits: a top read by several bottoms (a loss weight counts as one reader) gets a
    Split layer right after its producer, and each reader reads its own copy."""
    producer = {}                        # blob name -> (layer index, top index) of its latest writer
    readers = collections.Counter()      # (layer, top) -> number of readers
    bottom_src = {}                      # (layer, bottom) -> (layer, top)
    loss_weight = {}
    for i, lp in enumerate(lps):
        for j, b in enumerate(lp.strs("bottom")):
            if b not in producer:
                raise NetError(f"{lp.filename}:{lp.line}: layer '{lp.str('name')}' ({lp.str('type')}): "
                               f"unknown bottom blob '{b}' (bottom {j}); no earlier layer produces it")
            bottom_src[i, j] = producer[b]
            readers[producer[b]] += 1
        for j, t in enumerate(lp.strs("top")):
            producer[t] = (i, j)
        for j, w in enumerate(lp.floats("loss_weight")[:len(lp.all("top"))]):
            src = producer[lp.strs("top")[j]]
            loss_weight[src] = w
            if w:
                readers[src] += 1
    out, next_split = [], collections.Counter()
    for i, lp in enumerate(lps):
        bottoms = lp.strs("bottom")
        renamed = list(bottoms)
        for j, b in enumerate(bottoms):
            src = bottom_src[i, j]
            if readers[src] > 1:
                renamed[j] = f"{b}_{lps[src[0]].str('name')}_{src[1]}_split_{next_split[src]}"
                next_split[src] += 1
        if renamed != bottoms:
            lp = _with_field(lp, "bottom", renamed)
        tops = lp.strs("top")
        splits = []
        for j, t in enumerate(tops):
            n = readers[i, j]
            if n > 1:
                name = lp.str("name")
                sp = Message(lp.filename, lp.line, lp.col)
                sp.add("name", f"{t}_{name}_{j}_split")
                sp.add("type", "Split")
                sp.add("bottom", t)
                w = loss_weight.get((i, j), 0.0)
                for k in range(n):
                    sp.add("top", f"{t}_{name}_{j}_split_{k}")
                    if w:
                        sp.add("loss_weight", w if k == 0 else 0.0)
                if w:
                    next_split[i, j] += 1  # copy 0 carries the loss
                    lp = _without_loss_weight(lp)
                splits.append(sp)
        out.append(lp)
        out.extend(splits)
    return out


def _with_field(lp, field, values):
    copy = Message(lp.filename, lp.line, lp.col)
    for k in lp.fields:
        if k == field:
            for v in values:
                copy.add(k, v, *lp.where[k][0])
        else:
            for v, w in zip(lp.fields[k], lp.where[k]):
                copy.add(k, v, *w)
    return copy


def _without_loss_weight(lp):
    copy = _with_field(lp, "loss_weight", [])
    copy.fields.pop("loss_weight", None)
    copy.where.pop("loss_weight", None)
    return copy


def _make_layer(lp, phase):
    type_ = lp.str("type")
    if not type_:
        raise NetError(f"{lp.filename}:{lp.line}: layer '{lp.str('name')}' has no type")
    if type_ == "Python":
        return _python_layer(lp, phase)
    cls = REGISTRY.get(type_)
    if cls is None:
        raise NetError(f"{lp.filename}:{lp.where['type'][-1][0]}: layer '{lp.str('name')}': unknown layer type "
                       f"'{type_}' (known: {', '.join(sorted(REGISTRY) + ['Python'])})")
    return cls(lp, phase)


def _python_layer(lp, phase):
    pp = lp.msg("python_param")
    module_name, class_name = pp.str("module"), pp.str("layer")
    if module_name == sequence_data.RELEASED_MODULE and class_name in sequence_data.RELEASED:
        return sequence_data.released(lp, phase)  # the activity fork's data layer, built in
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise NetError(f"{lp.filename}:{lp.line}: Python layer '{lp.str('name')}': cannot import module "
                       f"'{module_name}' ({e}); is it on PYTHONPATH?") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise NetError(f"{lp.filename}:{lp.line}: Python layer '{lp.str('name')}': module '{module_name}' "
                       f"has no class '{class_name}'")
    layer = cls.__new__(cls)
    Layer.__init__(layer, lp, phase)
    layer.type = "Python"
    layer.param_str = pp.str("param_str")
    init = getattr(cls, "__init__", None)
    if init is not None and init is not Layer.__init__ and init is not object.__init__:
        init(layer, lp, phase)
    return layer


class Net:
    """pycaffe's Net: ``Net(model_file, phase, weights=None, level=0, stages=None)`` or the older
    ``Net(model_file, weights, phase)``. ``model_file`` is a path, a parsed Message or a caffe_pb2.NetParameter."""

    def __init__(self, model_file, *args, weights=None, phase=None, level=0, stages=None):
        if len(args) == 2 and isinstance(args[0], (str, os.PathLike)):  # Net(model, weights, phase)
            weights, phase = args
        elif len(args) == 1:
            phase = args[0]
        elif args:
            raise TypeError("Net(model_file, phase, weights=None, level=0, stages=None) or Net(model_file, weights, phase)")
        if phase not in (TRAIN, TEST):
            raise ValueError("Net: phase must be lrcn_native.TRAIN or lrcn_native.TEST")
        if isinstance(model_file, Message):
            netp = model_file
        elif isinstance(model_file, PbMessage):  # a caffe_pb2.NetParameter, e.g. from NetSpec.to_proto()
            netp = to_text_message(model_file, f"<{type(model_file).__name__}>")
        else:
            netp = parse_file(os.fspath(model_file))
        self.phase = phase
        if isinstance(stages, str):
            raise TypeError(f"Net: stages is a list of names, e.g. [{stages!r}], not a string")
        self._init(netp, phase, level, tuple(stages or ()))
        if weights is not None:
            self.copy_from(weights)

    # --- construction -------------------------------------------------------------------------
    def _init(self, netp, phase, level, stages):
        from .proto.schema import validate_net
        from .proto.upgrade import upgrade_net
        upgraded = upgrade_net(netp)  # a V1 net (`layers { type: CONVOLUTION }`), as Caffe's UpgradeNetAsNeeded
        if upgraded is not netp:
            log.info("%s: V1 prototxt ('layers' blocks) upgraded to V2 in memory; `lrcn upgrade-net` writes the "
                     "upgraded file", netp.filename)
            netp = upgraded
        validate_net(netp)
        state = netp.msg("state")
        if "state" in netp:  # the file's own state is the default (Caffe merges the two)
            level = level or state.int("level", 0)
            stages = stages or tuple(state.strs("stage"))
        self.name = netp.str("name")
        all_lps = _layer_params(netp)
        lps = [lp for lp in all_lps if _included(lp, phase, level, stages)]
        # Caffe allows two layers of one net to share a name (lrcn.prototxt's two "data" layers); the
        # name-keyed views (layer_dict, params) then show the later one, as in pycaffe.
        try:
            lps = _insert_splits(lps)
        except NetError as e:  # an unknown bottom: often a stage or level the solver file would have set
            raise NetError(f"{e}{_state_hint(all_lps, phase, level, stages)}") from None

        self.layers, self._layer_names, self._fault_tags = [], [], []
        self._hooks = {when: [] for when in _HOOKS}
        self.blobs = collections.OrderedDict()
        self.top_names, self.bottom_names = collections.OrderedDict(), collections.OrderedDict()
        self._bottoms, self._tops = [], []
        self._loss_tops = []                  # per layer: [(top index, weight)]
        self.blob_loss_weights = collections.OrderedDict()
        self.inputs = []
        blob_need_backward = {}
        bottom_need_backward, layer_need_backward = [], []
        available = set()
        self._learnable, self._param_owner = [], {}   # unique learnable Blobs, share name -> index
        self._lr_mult, self._decay_mult = [], []
        self.param_specs = []
        for lp in lps:
            layer = _make_layer(lp, phase)
            name = layer.name
            bottoms = []
            bneed = []
            need_backward = False
            propagate = lp.all("propagate_down")
            if propagate and len(propagate) != len(lp.all("bottom")):
                raise layer.error(f"propagate_down has {len(propagate)} entries for {len(lp.all('bottom'))} bottoms",
                                  "propagate_down")
            for j, b in enumerate(lp.strs("bottom")):
                if b not in available:
                    raise layer.error(f"bottom blob '{b}' is not available (consumed or never produced)", "bottom")
                available.discard(b)
                bottoms.append(self.blobs[b])
                need = blob_need_backward[b]
                if propagate:
                    need = _as_bool(lp, "propagate_down", j)
                bneed.append(need)
                need_backward |= blob_need_backward[b]
            tops = []
            for j, t in enumerate(lp.strs("top")):
                if t in lp.strs("bottom"):
                    if lp.strs("bottom").index(t) != j:
                        raise layer.error(f"in-place top '{t}' must be at the same position as its bottom", "top")
                    tops.append(self.blobs[t])
                else:
                    if t in self.blobs:
                        raise layer.error(f"top blob '{t}' is produced by an earlier layer too", "top")
                    self.blobs[t] = Blob()
                    tops.append(self.blobs[t])
                    blob_need_backward[t] = False
                available.add(t)
            layer.check_counts(bottoms, tops)
            try:
                layer.setup(bottoms, tops)
                layer.reshape(bottoms, tops)
            except LayerError:
                raise
            except (ValueError, TypeError) as e:
                raise layer.error(str(e)) from e
            if lp.str("type") == "Input":
                self.inputs.extend(lp.strs("top"))
            # Loss weights: explicit, else 1 for top 0 of loss layers (Caffe's SetLossWeights).
            weights = lp.floats("loss_weight")
            if weights and len(weights) != len(tops):
                raise layer.error(f"loss_weight has {len(weights)} entries for {len(tops)} tops", "loss_weight")
            if not weights:
                weights = [1.0 if (layer.is_loss and j == 0) else 0.0 for j in range(len(tops))]
            loss_tops = []
            for j, w in enumerate(weights):
                if w:
                    K.set(tops[j].wdiff(), w)
                    loss_tops.append((j, w))
                self.blob_loss_weights[lp.strs("top")[j]] = w
            # Parameters: sharing, multipliers, whether they need backward.
            specs = lp.msgs("param")
            if len(specs) > len(layer.blobs):
                raise layer.error(f"{len(specs)} param specs for {len(layer.blobs)} parameter blobs", "param")
            layer.param_propagate_down = []
            for p in range(len(layer.blobs)):
                spec = specs[p] if p < len(specs) else Message()
                lr = spec.float("lr_mult", 1.0)
                need_backward |= lr != 0
                layer.param_propagate_down.append(lr != 0)
                self._append_param(layer, p, spec)
            self.layers.append(layer)
            self._fault_tags.append(next(_FAULT_TAGS))
            self._layer_names.append(name)
            self.top_names[name] = lp.strs("top")
            self.bottom_names[name] = lp.strs("bottom")
            self._bottoms.append(bottoms)
            self._tops.append(tops)
            self._loss_tops.append(loss_tops)
            bottom_need_backward.append(bneed)
            layer_need_backward.append(need_backward)
            if need_backward:
                for t in lp.strs("top"):
                    blob_need_backward[t] = True

        # Backwards pass: a layer needs backward only if it contributes to a loss (Caffe's Init).
        under_loss, skip = set(), set()
        for i in range(len(self.layers) - 1, -1, -1):
            contributes, skip_down = False, True
            for j, t in enumerate(self.top_names[self._layer_names[i]]):
                if any(jj == j for jj, _ in self._loss_tops[i]) or t in under_loss:
                    contributes = True
                if t not in skip:
                    skip_down = False
            if layer_need_backward[i] and skip_down:
                layer_need_backward[i] = False
                bottom_need_backward[i] = [False] * len(bottom_need_backward[i])
            if not contributes:
                layer_need_backward[i] = False
            for j, b in enumerate(self.bottom_names[self._layer_names[i]]):
                if contributes:
                    under_loss.add(b)
                else:
                    bottom_need_backward[i][j] = False
                if not bottom_need_backward[i][j]:
                    skip.add(b)
        if netp.bool("force_backward", False):
            for i, layer in enumerate(self.layers):
                layer_need_backward[i] = True
                for j, b in enumerate(self.bottom_names[self._layer_names[i]]):
                    bottom_need_backward[i][j] = bottom_need_backward[i][j] or layer.allow_force_backward(j)
                    blob_need_backward[b] = blob_need_backward[b] or bottom_need_backward[i][j]
                layer.param_propagate_down = [True] * len(layer.blobs)
        self._layer_need_backward = layer_need_backward
        self._bottom_need_backward = bottom_need_backward
        self.outputs = sorted(available)  # Caffe keeps available blobs in a std::set: sorted by name
        self.layer_dict = collections.OrderedDict(zip(self._layer_names, self.layers))
        self.params = collections.OrderedDict(
            (n, l.blobs) for n, l in zip(self._layer_names, self.layers) if l.blobs)

    def _append_param(self, layer, p, spec):
        share = spec.str("name", "")
        lr, decay = spec.float("lr_mult", 1.0), spec.float("decay_mult", 1.0)
        if not share or share not in self._param_owner:
            if share:
                self._param_owner[share] = len(self._learnable)
            self._learnable.append(layer.blobs[p])
            self._lr_mult.append(lr)
            self._decay_mult.append(decay)
            self.param_specs.append((layer.name, p, share))
            return
        owner = self._param_owner[share]
        blob = self._learnable[owner]
        mine = layer.blobs[p]
        strict = spec.enum("share_mode", "STRICT", ("STRICT", "PERMISSIVE")) == "STRICT"
        if (strict and blob.shape != mine.shape) or blob.count != mine.count:
            raise layer.error(f"shared parameter '{share}' has shape {mine.shape} here but {blob.shape} in its "
                              f"owner", "param")
        if "lr_mult" in spec and lr != self._lr_mult[owner]:
            raise layer.error(f"shared parameter '{share}' has mismatched lr_mult", "param")
        if "decay_mult" in spec and decay != self._decay_mult[owner]:
            raise layer.error(f"shared parameter '{share}' has mismatched decay_mult", "param")
        layer.blobs[p] = blob

    # --- running ------------------------------------------------------------------------------
    def _index(self, name, default):
        if name is None:
            return default
        try:
            return self._layer_names.index(name)
        except ValueError:
            raise KeyError(f"no layer named '{name}' in net '{self.name}'") from None

    def layer_io(self, i):
        """Layer i's (bottom Blobs, top Blobs, propagate_down): the bottoms its backward writes, or None when
        it needs no backward. What the layer-loop callbacks receive, for a reader after the fact."""
        return self._bottoms[i], self._tops[i], self._bottom_need_backward[i] if self._layer_need_backward[i] else None

    def forward_from_to(self, start, end, after=None):
        """Runs layers start..end (inclusive) and returns Σ loss_weight·loss over their loss tops.
        ``after(i, layer, bottom, top)`` is called once each layer has run (debug output, timing)."""
        loss = 0.0
        for i in range(start, end + 1):
            for hook in self._hooks["before_forward"]:
                hook(i)
            layer, bottom, top = self.layers[i], self._bottoms[i], self._tops[i]
            with _naming(layer, "forward", self._fault_tags[i]):
                layer.reshape(bottom, top)
                layer.forward(bottom, top)
                for j, _ in self._loss_tops[i]:
                    loss += K.dot(top[j].rdata(), top[j].rdiff())
            if after is not None:
                after(i, layer, bottom, top)
            for hook in self._hooks["after_forward"]:
                hook(i)
        if mode.gpu():
            self._raise_fault()
        return loss

    def _raise_fault(self):
        """GPU kernels record a bad label or index (device.h) instead of stopping the stream for a check; the
        record is read once per forward, after the loss, whose copy to the host has already waited for the
        stream. Raises the error the CPU path raises, naming the layer whose kernel met it."""
        fault = K.fault()
        if fault is None:
            return
        tag, message = fault
        if tag in self._fault_tags:
            raise self.layers[self._fault_tags.index(tag)].error(message)
        raise LayerError(f"a GPU kernel run outside net '{self.name}' (before its forward) met bad input: {message}")

    def backward_from_to(self, start, end, after=None):
        """Runs the backward of layers start down to end (inclusive) that need one. ``after(i, layer, top,
        propagate_down, bottom)`` is called for every layer of the range, after its backward;
        ``propagate_down`` is None for a layer that needs none (it did not run)."""
        for i in range(start, end - 1, -1):
            for hook in self._hooks["before_backward"]:
                hook(i)
            layer, (bottom, top, need) = self.layers[i], self.layer_io(i)
            if need is not None:
                with _naming(layer, "backward", self._fault_tags[i]):
                    layer.backward(top, need, bottom)
            if after is not None:
                after(i, layer, top, need, bottom)
            for hook in self._hooks["after_backward"]:
                hook(i)

    # pycaffe's hooks: ``net.before_forward(fn)`` ... ``fn(i)`` runs before (after) layer i's forward (backward) in
    # every pass over the net: forward(), backward(), forward_all, solver steps and tests. As in Caffe, the
    # backward hooks run for every layer of the range, also those that need no backward.
    def _add_hook(self, when, fn):
        if not callable(fn):
            raise TypeError(f"Net.{when}: expects a function of the layer index, got {fn!r}")
        self._hooks[when].append(fn)

    def before_forward(self, fn):
        self._add_hook("before_forward", fn)

    def after_forward(self, fn):
        self._add_hook("after_forward", fn)

    def before_backward(self, fn):
        self._add_hook("before_backward", fn)

    def after_backward(self, fn):
        self._add_hook("after_backward", fn)

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """pycaffe's forward: sets input blobs from ``kwargs``, runs start..end and returns
        {name: data} for the outputs (or the end layer's tops) plus ``blobs``."""
        blobs = list(blobs or [])
        i0 = self._index(start, 0)
        i1 = self._index(end, len(self.layers) - 1)
        outputs = set((self.top_names[end] if end is not None else self.outputs) + blobs)
        self._set_arrays("forward", kwargs, self.inputs, "data")
        self._last_loss = self.forward_from_to(i0, i1)
        return {o: self.blobs[o].data for o in outputs}

    def _set_arrays(self, what, arrays, names, field):
        """Writes ``arrays`` (one per name in ``names``, batch sized) into the blobs' data or diff."""
        if not arrays:
            return
        if set(arrays) != set(names):
            raise ValueError(f"{what}: blob arguments {sorted(arrays)} do not match the net's "
                             f"{'inputs' if field == 'data' else 'outputs'} {names}")
        for name, value in arrays.items():
            blob = self.blobs[name]
            value = np.asarray(value)
            if value.shape[:1] != blob.shape[:1]:
                raise ValueError(f"{what}: '{name}' is not batch sized: {value.shape} for blob {blob.shape}")
            getattr(blob, field)[...] = value

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """pycaffe's backward: sets output diffs from ``kwargs``, runs start..end backwards and returns
        {name: diff} for the inputs (or the end layer's bottoms) plus ``diffs``."""
        diffs = list(diffs or [])
        i0 = self._index(start, len(self.layers) - 1)
        i1 = self._index(end, 0)
        outputs = set((self.bottom_names[end] if end is not None else self.inputs) + diffs)
        self._set_arrays("backward", kwargs, self.outputs, "diff")
        self.backward_from_to(i0, i1)
        return {o: self.blobs[o].diff for o in outputs}

    def forward_backward(self):
        loss = self.forward_from_to(0, len(self.layers) - 1)
        self.backward_from_to(len(self.layers) - 1, 0)
        return loss

    def reshape(self):
        for layer, bottom, top in zip(self.layers, self._bottoms, self._tops):
            layer.reshape(bottom, top)

    def clear_param_diffs(self):
        for blob in self._learnable:
            K.set(blob.wdiff(), 0.0)

    def _batch_size(self):
        return self.blobs[self.inputs[0]].shape[0] if self.inputs else 1

    def forward_all(self, blobs=None, **kwargs):
        """Runs forward over inputs of any batch count, batch by batch (pycaffe's forward_all)."""
        all_outs = collections.defaultdict(list)
        for batch in self._batches(kwargs):
            outs = self.forward(blobs=blobs, **{k: v for k, v in batch.items()})
            for name, out in outs.items():
                all_outs[name].extend(out.copy())
        return self._trim(all_outs, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """Forward and backward over batches; kwargs hold inputs and output diffs."""
        ins = {k: v for k, v in kwargs.items() if k in self.inputs}
        tdiffs = {k: v for k, v in kwargs.items() if k in self.outputs}
        all_outs, all_diffs = collections.defaultdict(list), collections.defaultdict(list)
        for fb, bb in zip(self._batches(ins), self._batches(tdiffs)):
            outs = self.forward(blobs=blobs, **fb)
            grads = self.backward(diffs=diffs, **bb)
            for name, out in outs.items():
                all_outs[name].extend(out.copy())
            for name, d in grads.items():
                all_diffs[name].extend(d.copy())
        n = len(next(iter(kwargs.values()))) if kwargs else 0
        return self._trim(all_outs, kwargs, n), self._trim(all_diffs, kwargs, n)

    def set_input_arrays(self, data, labels):
        """pycaffe's: the arrays the net's first layer, a MemoryData layer, reads its batches from; data
        (n, channels, height, width), labels (n,) or (n, 1, 1, 1), float32 and C-contiguous."""
        if not self.layers or self.layers[0].type != "MemoryData":
            raise NetError(f"set_input_arrays may only be called if the first layer is a MemoryData layer (net "
                           f"'{self.name}' starts with {self.layers[0].type if self.layers else 'no layer'})")
        if getattr(labels, "ndim", None) == 1:
            labels = np.ascontiguousarray(labels[:, None, None, None])
        self.layers[0].reset(data, labels)

    def _batches(self, arrays):
        if not arrays:
            yield {}
            return
        n = len(next(iter(arrays.values())))
        bs = self._batch_size()
        for start in range(0, n, bs):
            batch = {}
            for name, arr in arrays.items():
                chunk = np.asarray(arr[start:start + bs], np.float32)
                if len(chunk) < bs:  # pad the last batch as pycaffe does
                    pad = np.zeros((bs - len(chunk),) + chunk.shape[1:], np.float32)
                    chunk = np.concatenate([chunk, pad])
                batch[name] = chunk
            yield batch

    @staticmethod
    def _trim(outs, kwargs, n=None):
        if n is None:
            n = len(next(iter(kwargs.values()))) if kwargs else None
        return {name: np.asarray(v[:n] if n is not None else v) for name, v in outs.items()}

    # --- weights --------------------------------------------------------------------------------
    def copy_from(self, path):
        from .proto.caffemodel import load_into_net
        return load_into_net(self, path)

    def share_with(self, other):
        """Caffe's ShareTrainedLayersWith: each layer of ``other`` lends its parameters' data memory (not their
        diffs) to this net's first layer of the same name; ``other``'s layers that this net lacks are logged
        and skipped. Parameter counts and shapes must agree."""
        for name, source in zip(other._layer_names, other.layers):
            if name not in self._layer_names:
                log.info("Ignoring source layer %s", name)
                continue
            target = self.layers[self._layer_names.index(name)]
            if len(target.blobs) != len(source.blobs):
                raise NetError(f"share_with: incompatible number of blobs for layer '{name}': {len(source.blobs)} "
                               f"in net '{other.name}', {len(target.blobs)} in net '{self.name}'")
            for j, (s, t) in enumerate(zip(source.blobs, target.blobs)):
                if s.shape != t.shape:
                    raise NetError(f"share_with: cannot share param {j} weights from layer '{name}'; shape mismatch. "
                                   f"Source param shape is {s.shape}; target param shape is {t.shape}")
                t.share_data(s)

    def save(self, path):
        from .proto.caffemodel import save_net
        save_net(self, path)

    def save_hdf5(self, path):
        from .proto.caffemodel import save_net
        save_net(self, path, hdf5=True)

    def load_hdf5(self, path):
        return self.copy_from(path)

    @property
    def learnable_params(self):
        return list(self._learnable)

    # pycaffe's lower-level names, which scripts use too.
    _blob_names = property(lambda self: list(self.blobs))
    _blobs = property(lambda self: list(self.blobs.values()))
    _blob_loss_weights = property(lambda self: list(self.blob_loss_weights.values()))
    _inputs = property(lambda self: [self._blob_names.index(b) for b in self.inputs])
    _outputs = property(lambda self: [self._blob_names.index(b) for b in self.outputs])

    def _top_ids(self, i):
        return [self._blob_names.index(b) for b in self.top_names[self._layer_names[i]]]

    def _bottom_ids(self, i):
        return [self._blob_names.index(b) for b in self.bottom_names[self._layer_names[i]]]

    def _forward(self, start, end):
        return self.forward_from_to(start, end)

    def _backward(self, start, end):
        self.backward_from_to(start, end)

    def __repr__(self):
        """One row per layer: name, type, tops with their shapes, its parameters (shapes and count); then the
        total, each shared parameter counted once."""
        rows = [("layer", "type", "tops", "parameters")]
        for name, layer in zip(self._layer_names, self.layers):
            tops = ", ".join(f"{t} {_shape(self.blobs[t].shape)}" for t in self.top_names[name])
            params = (f"{sum(b.count for b in layer.blobs):,} ({', '.join(_shape(b.shape) for b in layer.blobs)})"
                      if layer.blobs else "")
            rows.append((name, layer.type, tops, params))
        widths = [max(len(row[k]) for row in rows) for k in range(3)]
        lines = [f"  {n:<{widths[0]}}  {t:<{widths[1]}}  {o:<{widths[2]}}  {p}".rstrip() for n, t, o, p in rows]
        total = sum(b.count for b in self._learnable)
        head = (f"Net '{self.name}' ({PHASES[self.phase]}): {len(self.layers)} layers, inputs [{', '.join(self.inputs)}], "
                f"outputs [{', '.join(self.outputs)}]")
        foot = f"  total: {total:,} learnable parameters in {len(self._learnable)} blobs ({total * 4 / 2 ** 20:.1f} MiB)"
        return "\n".join([head, *lines, foot])

    def memory_bytes(self):
        """Host memory that running this net forward and backward will allocate for its blobs and parameters:
        data and diff (float32) of each distinct Blob (in-place tops and shared parameters count once).
        Layers' scratch buffers (im2col, gate caches) come on top. Allocation is deferred to first use, so
        this tells before running whether a net fits."""
        blobs = {id(b): b for b in self.blobs.values()}
        blobs.update((id(b), b) for layer in self.layers for b in layer.blobs)
        return sum(2 * 4 * b.count for b in blobs.values())


def _shape(shape):
    """(10, 3, 227, 227) as Caffe prints it: 10x3x227x227; a scalar blob as "scalar"."""
    return "x".join(map(str, shape)) if shape else "scalar"


_HOOKS = ("before_forward", "after_forward", "before_backward", "after_backward")


def _as_bool(lp, field, index):
    v = lp.all(field)[index]
    if isinstance(v, str) and v in ("true", "false", "True", "False"):
        return v in ("true", "True")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise lp.error(field, f"field '{field}' expects true or false, got {v!r}", index)


# Tags the GPU's fault record names launchers by (Net._raise_fault): unique in the process, one per layer.
_FAULT_TAGS = itertools.count(1)


@contextlib.contextmanager
def _naming(layer, phase, fault_tag):
    """Any error a layer raises (a native kernel's ValueError, a MemoryError, a failed CUDA launch...) becomes
    a LayerError naming the layer and its prototxt line, the original chained. On the GPU, the kernels it
    launches carry its fault tag."""
    if mode.gpu():
        K.set_fault_tag(fault_tag)
    try:
        yield
    except LayerError:
        raise
    except Exception as e:
        raise layer.error(f"{phase} failed: {type(e).__name__}: {e}") from e
