"""pycaffe's ``caffe.io`` as the LRCN scripts use it: load, resize, crop and transform images.

Semantics follow pycaffe's python/caffe/io.py of the LRCN era (BVLC and the LRCN activity fork,
LisaAnne/lisa-caffe-public, which adds ``Transformer.set_is_flow``, ``flip_image`` and the ``flow``
flag of ``oversample``). Images are H x W x K float32 arrays, RGB, values in [0, 1] when loaded.
Only numpy and pillow are used; pycaffe used skimage and scipy, whose resizing is re-implemented
below (see ``resize_image``).
"""
import math

import numpy as np
from PIL import Image


# ---- image IO ----

def load_image(filename, color=True):
    """Image file -> float32 array in [0, 1]: H x W x 3 (RGB) or H x W x 1 (grey, color=False).

    As pycaffe (skimage.io.imread + img_as_float): integer pixels are divided by their type's
    maximum (255 for 8-bit, 65535 for 16-bit) in float64, then cast to float32. A grey image is
    H x W x 1, tiled to 3 channels when color=True; an image with alpha becomes RGBA and the alpha
    is dropped (so grey+alpha loads as 3 channels even with color=False, as in pycaffe); a colour
    image stays 3 channels whatever color says.
    """
    with Image.open(filename) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif "A" in im.mode:
            im = im.convert("RGBA")
        elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        elif im.mode == "1":
            im = im.convert("L")
        a = np.asarray(im)
    if a.dtype.kind in "ui":
        img = (a / np.float64(np.iinfo(a.dtype).max)).astype(np.float32)
    else:
        img = a.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


# ---- resizing ----
#
# pycaffe resized 1- and 3-channel images with skimage.transform.resize(im_std, new_dims,
# order) of skimage 0.10-0.12, on the image rescaled to [0, 1] by its min and max (then scaled
# back). That resize is an affine warp with the defaults mode='constant', cval=0, clip=True and
# no anti-aliasing (added in 0.14). Output pixel x samples the source at its pixel centre
#     src = s * (x + 0.5) - 0.5,   s = n_in / n_out,
# bilinearly (order 1: the 2 x 2 neighbours, weights 1 - frac and frac, columns first, then
# rows) or at the nearest pixel (order 0: C round, i.e. floor(src + 0.5) as src > -0.5).
# Neighbours outside the image read cval = 0, which in the rescaled image is the image MINIMUM:
# when upsampling, the outer output pixels blend towards the minimum (by 0.5 - s/2 at most).
# Downsampling reads no outside pixel (src stays in [0, n_in - 1]) and does not low-pass: by 2
# each output is the mean of a 2 x 2 block, by 3 it is the block's middle pixel.
# skimage's warp computed in float64 and clipped to the input's range; so do we, then float32.
# This is bit-exact against scikit-image 0.26's resize(order, mode='constant',
# anti_aliasing=False) of the float64 [0, 1] image and scipy.ndimage.zoom(grid_mode=True,
# mode='grid-constant'). The 2015 skimage estimated its affine matrix from 3 control points,
# which can move src by ~1e-16: an exact .5 tie of order 0 may have rounded the other way.
#
# Other channel counts went to scipy.ndimage.zoom(im, (h/H, w/W, 1), order) (no rescaling),
# whose old default aligns corners: src = x * (n_in - 1) / (n_out - 1) (0 when n_out = 1),
# linear between the two neighbours or nearest with floor(src + 0.5); src never leaves the image.

def _centre_coords(n_in, n_out):
    """Source coordinate of each output pixel centre, s (x + 0.5) - 0.5 with s = n_in / n_out."""
    return (n_in / n_out) * (np.arange(n_out) + 0.5) - 0.5


def _corner_coords(n_in, n_out):
    """Source coordinate of each output pixel with corners aligned (scipy.ndimage.zoom)."""
    if n_out == 1:
        return np.zeros(1)
    return np.arange(n_out) * ((n_in - 1) / (n_out - 1))


def _along(a, axis, lo, hi, w):
    """(1 - w) * a[lo] + w * a[hi] along axis; lo, hi, w are (n_out,)."""
    shape = [1] * a.ndim
    shape[axis] = -1
    w = w.reshape(shape)
    return (1 - w) * np.take(a, lo, axis=axis) + w * np.take(a, hi, axis=axis)


def _resize_centres(im, new_dims, order):
    """skimage-era resize of an H x W x K float64 image, zero outside, float64 out."""
    out = im
    for axis, n_out in ((1, new_dims[1]), (0, new_dims[0])):   # columns first, as skimage
        n_in = out.shape[axis]
        src = _centre_coords(n_in, n_out)
        if order == 0:
            out = np.take(out, np.floor(src + 0.5).astype(np.intp), axis=axis)
            continue
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 1)
        padded = np.pad(out, pad)                # padded[i + 1] = out[i]; zeros at -1 and n_in
        i0 = np.floor(src).astype(np.intp)       # in [-1, n_in - 1]
        out = _along(padded, axis, i0 + 1, i0 + 2, src - i0)
    if order == 1:
        out = np.clip(out, im.min(), im.max())
    return out


def _resize_corners(im, new_dims, order):
    """scipy.ndimage.zoom-style resize (corners aligned) of an H x W x K image, float64 out."""
    out = im.astype(np.float64)
    for axis, n_out in ((0, new_dims[0]), (1, new_dims[1])):
        n_in = out.shape[axis]
        src = _corner_coords(n_in, n_out)
        if order == 0:
            out = np.take(out, np.floor(src + 0.5).astype(np.intp), axis=axis)
            continue
        i0 = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
        out = _along(out, axis, i0, np.minimum(i0 + 1, n_in - 1), src - i0)
    return out


def resize_image(im, new_dims, interp_order=1):
    """Resize an H x W x K image to new_dims = (height, width): float32 (h, w, K).

    interp_order 1 (bilinear, the default) or 0 (nearest); see the comment above for exactly
    which interpolation this reproduces. A constant image is returned as that constant.
    """
    if im.ndim != 3:
        raise ValueError(f"resize_image takes an H x W x K image, got shape {im.shape}")
    if interp_order not in (0, 1):
        raise ValueError(f"interp_order must be 0 (nearest) or 1 (bilinear), got {interp_order}")
    new_dims = (int(new_dims[0]), int(new_dims[1]))
    if im.shape[-1] not in (1, 3):
        return _resize_corners(im, new_dims, interp_order).astype(np.float32)
    im_min, im_max = im.min(), im.max()
    if not im_max > im_min:
        return np.full(new_dims + (im.shape[-1],), im_min, dtype=np.float32)
    # The same expressions as pycaffe, so the [0, 1] rescaling rounds in the input's dtype.
    im_std = (im - im_min) / (im_max - im_min)
    resized_std = _resize_centres(im_std.astype(np.float64), new_dims, interp_order)
    return (resized_std * (im_max - im_min) + im_min).astype(np.float32)


# ---- crops and mirrors ----

def oversample(images, crop_dims, flow=False):
    """The 10 crops of each image: 4 corners and the centre, then those 5 mirrored.

    images: a sequence of N images H x W x K (all of images[0]'s shape); crop_dims: (h, w).
    Returns float32 (10 N, h, w, K); image n's crops are rows 10 n .. 10 n + 9 in the order
    top-left, top-right, bottom-left, bottom-right, centre, then their left-right mirrors.
    The centre crop starts at int(H/2 - h/2), int(W/2 - w/2) (truncated, as pycaffe).
    flow=True (the LRCN fork): a mirror negates horizontal flow, so channel 0 of the 5 mirrored
    crops becomes 1 - x (flow images stored as x*16+128 scaled to [0, 1]).
    """
    H, W, K = images[0].shape
    h, w = int(crop_dims[0]), int(crop_dims[1])
    starts = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w),
              (int(H / 2.0 - h / 2.0), int(W / 2.0 - w / 2.0))]
    crops = np.empty((10 * len(images), h, w, K), dtype=np.float32)
    for n, im in enumerate(images):
        for k, (y, x) in enumerate(starts):
            crops[10 * n + k] = im[y:y + h, x:x + w, :]
        mirrors = crops[10 * n + 5:10 * n + 10]
        mirrors[...] = crops[10 * n:10 * n + 5, :, ::-1, :]
        if flow:
            mirrors[..., 0] = 1 - mirrors[..., 0]
    return crops


def flip_image(im, scale=128, is_flow=False):
    """Mirror an H x W x K image left-right (LRCN fork). For flow, x-flow changes sign:
    channel 0 becomes scale - x (the LRCN data layer passes scale=1 for images in [0, 1]).
    Returns a new array (the fork wrote into a view of its argument)."""
    out = im[:, ::-1, :].copy()
    if is_flow:
        out[:, :, 0] = scale - out[:, :, 0]
    return out


# ---- Transformer ----

class Transformer:
    """Prepare H x W x K images for a net's input blobs, as pycaffe's caffe.io.Transformer.

    inputs: {blob name: blob shape (N, C, H, W)}. preprocess does, in this order: cast to float32,
    resize to the blob's (H, W) if different, transpose, channel swap, * raw_scale, - mean,
    * input_scale. deprocess undoes it. Each step is off until its set_* is called.
    """

    def __init__(self, inputs):
        self.inputs = inputs
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}
        self.is_flow = {}

    def _check_input(self, in_):
        if in_ not in self.inputs:
            raise ValueError(f"{in_} is not one of the net inputs: {self.inputs}")

    def preprocess(self, in_, data):
        """H' x W' x K ndarray -> K x H x W float32 for blob in_ (data is never modified)."""
        self._check_input(in_)
        caffe_in = np.array(data, dtype=np.float32)
        in_dims = tuple(self.inputs[in_][2:])
        if tuple(caffe_in.shape[:2]) != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        if in_ in self.transpose:
            caffe_in = caffe_in.transpose(self.transpose[in_])
        if in_ in self.channel_swap:
            caffe_in = caffe_in[list(self.channel_swap[in_]), :, :]
        # In-place on the float32 array, as pycaffe: each step rounds to float32.
        if in_ in self.raw_scale:
            caffe_in *= self.raw_scale[in_]
        if in_ in self.mean:
            caffe_in -= self.mean[in_]
        if in_ in self.input_scale:
            caffe_in *= self.input_scale[in_]
        return caffe_in

    def deprocess(self, in_, data):
        """Undo preprocess: K x H x W (or 1 x K x H x W) -> H x W x K (squeezed, as pycaffe).

        Channel swap and transpose are undone by their inverse permutations, as later pycaffe.
        The LRCN-era code re-applied the channel order and transposed by order[order]: the same
        for the orders in use ((2, 1, 0) is its own inverse; for (2, 0, 1) order[order] is the
        inverse), different for other permutations."""
        self._check_input(in_)
        decaf_in = data.copy().squeeze()
        if in_ in self.input_scale:
            decaf_in /= self.input_scale[in_]
        if in_ in self.mean:
            decaf_in += self.mean[in_]
        if in_ in self.raw_scale:
            decaf_in /= self.raw_scale[in_]
        if in_ in self.channel_swap:
            decaf_in = decaf_in[np.argsort(self.channel_swap[in_]), :, :]
        if in_ in self.transpose:
            decaf_in = decaf_in.transpose(np.argsort(self.transpose[in_]))
        return decaf_in

    def set_transpose(self, in_, order):
        """Axis order taking the H x W x K input to the blob's K x H x W, e.g. (2, 0, 1)."""
        self._check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError("Transpose order needs to have the same number of "
                             "dimensions as the input.")
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """Channel order after the transpose, e.g. (2, 1, 0) for RGB -> BGR."""
        self._check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError("Channel swap needs to have the same number of "
                             "dimensions as the input channels.")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """Multiply the [0, 1] input by scale (255 for CaffeNet-style models) before the mean."""
        self._check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """Mean to subtract: a per-channel vector (C,), or an elementwise mean (C, H, W) or
        (H, W) (the latter for 1-channel inputs), matching the blob's (C, H, W)."""
        self._check_input(in_)
        ms = mean.shape
        if mean.ndim == 1:
            if ms[0] != self.inputs[in_][1]:
                raise ValueError("Mean channels incompatible with input.")
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            if len(ms) == 2:
                ms = (1,) + ms
            if len(ms) != 3:
                raise ValueError("Mean shape invalid")
            if ms != tuple(self.inputs[in_][1:]):
                raise ValueError("Mean shape incompatible with input shape.")
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        """Multiply by scale after the mean subtraction (raw_scale acts before it)."""
        self._check_input(in_)
        self.input_scale[in_] = scale

    def set_is_flow(self, in_, is_flow):
        """Mark input in_ as optical flow (LRCN fork). The fork only records the flag:
        preprocess is the same for flow and RGB (the flow mean, 128, comes from set_mean); what
        differs for flow is mirroring, done by flip_image(..., is_flow=True) and
        oversample(..., flow=True)."""
        self._check_input(in_)
        self.is_flow[in_] = is_flow


# pycaffe's caffe.io also converts arrays to and from caffe_pb2's BlobProto (mean.binaryproto files) and
# Datum (the records of Caffe's LMDB/LevelDB databases).

def array_to_blobproto(arr, diff=None):
    """A caffe_pb2.BlobProto holding ``arr`` (shape.dim and data) and ``diff`` if given, as pycaffe's."""
    from .proto.caffe_pb2 import BlobProto
    arr = np.asarray(arr)
    blob = BlobProto()
    blob.shape.dim.extend(arr.shape)
    blob.data.extend(arr.flat)
    if diff is not None:
        if np.shape(diff) != arr.shape:
            raise ValueError(f"array_to_blobproto: diff shape {np.shape(diff)} is not the data's {arr.shape}")
        blob.diff.extend(np.asarray(diff).flat)
    return blob


def blobproto_to_array(blob, return_diff=False):
    """The float32 array of a caffe_pb2.BlobProto (or of its serialized bytes): shaped (num, channels, height,
    width) when the blob has those legacy fields, else by shape.dim; values from double_data (double_diff)
    when present, else data (diff), as Caffe's Blob::FromProto."""
    if isinstance(blob, (bytes, bytearray, memoryview)):
        from .proto.caffemodel import blobproto_to_array as from_bytes
        return from_bytes(blob, return_diff)
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = tuple(blob.shape.dim)
    single, double = (blob.diff, blob.double_diff) if return_diff else (blob.data, blob.double_data)
    values = np.array(double if len(double) else single, np.float32)
    if values.size != math.prod(shape):
        raise ValueError(f"BlobProto: {values.size} {'diff' if return_diff else 'data'} values for shape {shape}")
    return values.reshape(shape)


def array_to_datum(arr, label=None):
    """A caffe_pb2.Datum of a (channels, height, width) array: uint8 as the data bytes, else float_data."""
    from .proto.caffe_pb2 import Datum
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError(f"array_to_datum: expected a (channels, height, width) array, got shape {arr.shape}")
    datum = Datum(channels=arr.shape[0], height=arr.shape[1], width=arr.shape[2])
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(arr.flat)
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum):
    """The (channels, height, width) array of a caffe_pb2.Datum: uint8 from data, else float32 float_data."""
    shape = (datum.channels, datum.height, datum.width)
    if datum.encoded:
        raise ValueError("datum_to_array: the datum holds an encoded image (encoded: true); decode its data "
                         "bytes with PIL.Image.open(io.BytesIO(datum.data))")
    if datum.data:
        values = np.frombuffer(datum.data, np.uint8)
    else:
        values = np.array(datum.float_data, np.float32)
    if values.size != math.prod(shape):
        raise ValueError(f"datum_to_array: {values.size} values for shape {shape}")
    return values.reshape(shape)
