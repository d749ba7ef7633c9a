"""pycaffe's ``caffe.draw``: a net as a Graphviz graph (layers as boxes, blobs as octagons).

    from lrcn_native import draw
    draw.draw_net_to_file(net_param, "net.png", rankdir="LR", phase=caffe_pb2.TRAIN)

The net is a caffe_pb2.NetParameter (or a prototxt path). The graph is built with ``pydot`` (the ``draw``
extra: pip install 'lrcn_native[draw]'); rendering it (draw_net, draw_net_to_file) runs Graphviz's ``dot``
program, a system package (apt-get install graphviz). A layer whose bottom and top are one blob (in
place) is drawn as a record beside the blob; edges from Data layers are labelled with the batch size and
edges from Convolution and InnerProduct layers with num_output, as pycaffe's drawing does.
"""
import os
import shutil

from .proto import caffe_pb2, text_format

LAYER_STYLE = {"shape": "record", "fillcolor": "#6495ED", "style": "filled"}
NEURON_LAYER_STYLE = {"shape": "record", "fillcolor": "#90EE90", "style": "filled"}
BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}


def _pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError("drawing a net needs pydot: pip install 'lrcn_native[draw]' (and Graphviz's dot "
                          "program to render it: apt-get install graphviz)") from None
    return pydot


def _net_param(net):
    if isinstance(net, caffe_pb2.NetParameter):
        return net
    with open(os.fspath(net), encoding="utf-8") as f:
        return text_format.Merge(f.read(), caffe_pb2.NetParameter(), filename=os.fspath(net))


def _included(layer, phase):
    """Whether ``layer`` is in the net of ``phase`` (None: every layer), judged by the phases of its
    include/exclude rules only: a rule without a phase meets every phase, as in Caffe."""
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError(f"layer '{layer.name}' specifies both include and exclude")

    def meets(rule):
        return not rule.HasField("phase") or rule.phase == phase
    if len(layer.include):
        return any(meets(r) for r in layer.include)
    return not any(meets(r) for r in layer.exclude)


def _first(value, default):
    """A repeated field's first value (convolution_param) or a scalar (pooling_param)."""
    if isinstance(value, int):
        return value
    return value[0] if len(value) else default


def get_layer_label(layer, rankdir, display_lrm=False):
    """The text of a layer's box: name and type, and the geometry of convolution and pooling layers
    (lines stacked when the graph runs top to bottom, side by side when it runs left to right)."""
    sep = "\\n" if rankdir in ("TB", "BT") else " "
    lines = [f"{layer.name}{sep}({layer.type})"]
    if layer.type in ("Convolution", "Deconvolution", "Pooling"):
        p = layer.pooling_param if layer.type == "Pooling" else layer.convolution_param
        if layer.type == "Pooling":
            lines[0] = f"{layer.name}{sep}({layer.type} {caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool)})"
        lines += [f"kernel size: {_first(p.kernel_size, 1)}", f"stride: {_first(p.stride, 1)}",
                  f"pad: {_first(p.pad, 0)}"]
    if display_lrm and len(layer.param):
        lines += [f"lr mult: {', '.join(f'{s.lr_mult:g}' for s in layer.param)}",
                  f"decay mult: {', '.join(f'{s.decay_mult:g}' for s in layer.param)}"]
    return '"' + sep.join(lines) + '"'


def get_edge_label(layer):
    """The label of a layer's out-edges: batch size of a Data layer, num_output of Convolution and InnerProduct."""
    if layer.type == "Data":
        return f'"Batch {layer.data_param.batch_size}"'
    if layer.type in ("Convolution", "Deconvolution"):
        return f'"{layer.convolution_param.num_output}"'
    if layer.type == "InnerProduct":
        return f'"{layer.inner_product_param.num_output}"'
    return '""'


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """The pydot.Dot graph of a net: a node per layer ("<name>_<type>") and per blob ("<blob>_blob"), an
    edge from each bottom blob to its layer and from each layer to its top blobs."""
    pydot, net = _pydot(), _net_param(caffe_net)
    graph = pydot.Dot(net.name or "Net", graph_type="digraph", rankdir=rankdir)
    nodes, edges = {}, []
    for layer in net.layer:
        if not _included(layer, phase):
            continue
        node = f"{layer.name}_{layer.type}"
        in_place = len(layer.bottom) == 1 and len(layer.top) == 1 and layer.bottom[0] == layer.top[0]
        nodes[node] = pydot.Node(node, label=get_layer_label(layer, rankdir, display_lrm),
                                 **(NEURON_LAYER_STYLE if in_place else LAYER_STYLE))
        for blob in layer.bottom:
            nodes.setdefault(blob + "_blob", pydot.Node(blob + "_blob", label=f'"{blob}"', **BLOB_STYLE))
            edges.append((blob + "_blob", node, '""'))
        for blob in layer.top:
            nodes.setdefault(blob + "_blob", pydot.Node(blob + "_blob", label=f'"{blob}"', **BLOB_STYLE))
            edges.append((node, blob + "_blob", get_edge_label(layer) if label_edges else '""'))
    for n in nodes.values():
        graph.add_node(n)
    for src, dst, label in edges:
        graph.add_edge(pydot.Edge(nodes[src], nodes[dst], label=label))
    return graph


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False):
    """The net drawn by Graphviz in format ``ext`` (png, svg, pdf, dot...), as bytes."""
    graph = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    if shutil.which("dot") is None:
        raise RuntimeError("drawing a net needs Graphviz's `dot` program, which is not on PATH: install "
                           "Graphviz (apt-get install graphviz, brew install graphviz or conda install graphviz); "
                           "get_pydot_graph(...).to_string() gives the graph's text without it")
    return graph.create(format=ext)


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False):
    """Draws the net into ``filename``, in the format its extension names (net.png, net.svg...), atomically."""
    from .fileio import atomic_write
    ext = os.path.splitext(os.fspath(filename))[1].lstrip(".") or "png"
    data = draw_net(caffe_net, rankdir, ext, phase, display_lrm)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(filename, write)



def add_arguments(p):
    """pycaffe's python/draw_net.py arguments (also `lrcn draw-net`'s)."""
    p.add_argument("input_net_proto_file", help="net prototxt")
    p.add_argument("output_image_file", help="image to write; its extension names the format (png, svg, pdf...)")
    p.add_argument("--rankdir", default="LR", choices=("LR", "TB", "BT", "RL"),
                   help="direction of the graph: left to right, top to bottom... (default: %(default)s)")
    p.add_argument("--phase", default="ALL", choices=("TRAIN", "TEST", "ALL"),
                   help="draw the layers of this phase only (default: %(default)s, every layer)")
    p.add_argument("--display_lrm", "--display-lrm", action="store_true",
                   help="show each layer's lr_mult and decay_mult")


def run(args):
    phase = None if args.phase == "ALL" else caffe_pb2.Phase.Value(args.phase)
    draw_net_to_file(args.input_net_proto_file, args.output_image_file, args.rankdir, phase, args.display_lrm)
    print(f"wrote {args.output_image_file}")
    return 0
