"""Summary protos for each kind of data TensorBoard shows, as ``torch.utils.tensorboard.summary``.

Each function turns tensors (ember, NumPy or Python numbers) into a ``Summary`` proto from
the ``tensorboard`` package, so the files are read by TensorBoard's own loaders.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

from ..._tensor import Tensor

__all__ = ["make_np", "scalar", "histogram", "histogram_raw", "make_histogram", "image",
           "text", "hparams", "pr_curve", "compute_curve", "convert_to_HWC", "make_grid",
           "encode_png", "figure_to_image"]


def make_np(x) -> np.ndarray:
    """A NumPy array from an ember Tensor, an array or a Python number (bfloat16 and the
    float8 types become float32, which NumPy code downstream understands)."""
    if isinstance(x, Tensor):
        x = x.detach().numpy()
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype.kind == "V" else x  # ml_dtypes' kind is "V"


def _plugin_metadata(plugin_name: str, content: bytes = b"") -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin_name,
                                                                  content=content))


def scalar(name: str, value, new_style: bool = False, double_precision: bool = False) -> Summary:
    """One number: the legacy ``simple_value`` field, or (``new_style``) a 0-d tensor proto
    for the scalars plugin."""
    arr = make_np(value).squeeze()
    if arr.ndim != 0:
        raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given "
                             f"size: {arr.size} and {arr.ndim} dimensions.")
    v = float(arr)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=v)])
    proto = (TensorProto(double_val=[v], dtype="DT_DOUBLE") if double_precision
             else TensorProto(float_val=[v], dtype="DT_FLOAT"))
    return Summary(value=[Summary.Value(tag=name, tensor=proto,
                                        metadata=_plugin_metadata("scalars"))])


def histogram_raw(name: str, min: float, max: float, num: int, sum: float,  # noqa: A002
                  sum_squares: float, bucket_limits: Sequence[float],
                  bucket_counts: Sequence[float]) -> Summary:
    """A histogram whose statistics and buckets were computed by the caller."""
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                          bucket_limit=bucket_limits, bucket=bucket_counts)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def histogram(name: str, values, bins, max_bins: int | None = None) -> Summary:
    """A histogram of ``values`` with ``bins`` as ``numpy.histogram`` takes them."""
    hist = make_histogram(make_np(values).astype(np.float64), bins, max_bins)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def make_histogram(values: np.ndarray, bins, max_bins: int | None = None) -> HistogramProto:
    """The ``HistogramProto`` of ``values``: empty buckets at both ends are trimmed to one,
    and at most ``max_bins`` buckets are kept by merging neighbours (as torch)."""
    if values.size == 0:
        raise ValueError("The input has no element.")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        step = len(counts) // max_bins
        if len(counts) % step:
            counts = np.pad(counts, (0, step - len(counts) % step))
        counts = counts.reshape(-1, step).sum(axis=-1)
        limits = np.concatenate([limits[:-1:step], limits[-1:]])
    cum = np.cumsum(counts > 0)
    start, end = np.searchsorted(cum, [0, cum[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    return HistogramProto(min=values.min(), max=values.max(), num=len(values),
                          sum=values.sum(), sum_squares=values.dot(values),
                          bucket_limit=limits.tolist(), bucket=counts.tolist())


def make_grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """Tile NCHW images (1 or 3 channels) into one 3-channel CHW image, row by row."""
    if images.shape[1] == 1:
        images = np.concatenate([images] * 3, 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise AssertionError("Input should be a 4D numpy array with 3 channels")
    n, _, h, w = images.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = images[i]
    return canvas


def convert_to_HWC(tensor: np.ndarray, input_format: str) -> np.ndarray:  # noqa: N802
    """An HWC image (3 channels, or 4 with alpha) from an array laid out as ``input_format``
    (``CHW``, ``HWC``, ``HW``, or ``NCHW``/``NHWC`` for a grid of images)."""
    input_format = input_format.upper()
    if len(set(input_format)) != len(input_format):
        raise AssertionError("You can not use the same dimension shorthand twice. "
                             f"input_format: {input_format}")
    if tensor.ndim != len(input_format):
        raise AssertionError("size of input tensor and input format are different. tensor "
                             f"shape: {tensor.shape}, input_format: {input_format}")
    if len(input_format) == 4:
        grid = make_grid(tensor.transpose([input_format.find(c) for c in "NCHW"]))
        return grid.transpose(1, 2, 0)
    if len(input_format) == 3:
        hwc = tensor.transpose([input_format.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, 2) if hwc.shape[2] == 1 else hwc
    hw = tensor.transpose([input_format.find(c) for c in "HW"])
    return np.stack([hw] * 3, 2)


def encode_png(hwc: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HWC image (Pillow comes with ``tensorboard``)."""
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(hwc)).save(out, format="PNG")
    return out.getvalue()


def image(tag: str, tensor, dataformats: str = "NCHW") -> Summary:
    """A PNG image: floats are taken to lie in [0, 1] and scaled by 255, uint8 is kept."""
    arr = convert_to_HWC(make_np(tensor), dataformats)
    scale = 1 if arr.dtype == np.uint8 else 255
    arr = (arr.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    h, w, c = arr.shape
    img = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=encode_png(arr))
    return Summary(value=[Summary.Value(tag=tag, image=img)])


def figure_to_image(figures, close: bool = True) -> np.ndarray:
    """Render a matplotlib figure (CHW uint8) or a list of them (NCHW)."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def render(figure):
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        w, h = canvas.get_width_height()
        rgb = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8).reshape(h, w, 4)[:, :, :3]
        if close:
            plt.close(figure)
        return np.moveaxis(rgb, 2, 0)

    if isinstance(figures, list):
        return np.stack([render(f) for f in figures])
    return render(figures)


def text(tag: str, text_string: str) -> Summary:
    """Markdown text for the text plugin (the tag gets torch's ``/text_summary`` suffix)."""
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
    proto = TensorProto(dtype="DT_STRING", string_val=[text_string.encode("utf_8")],
                        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    smd = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=proto)])


def _hparam_value(v):
    """(Value field, HParams data type) of one hyperparameter value.

    Differs from torch on purpose: ``bool`` is logged as a bool, where torch's check for
    numbers comes first and logs it as 1.0/0.0."""
    if isinstance(v, bool):
        return "bool_value", "DATA_TYPE_BOOL"
    if isinstance(v, int | float):
        return "number_value", "DATA_TYPE_FLOAT64"
    if isinstance(v, str):
        return "string_value", "DATA_TYPE_STRING"
    if isinstance(v, Tensor):
        return "number_value", "DATA_TYPE_FLOAT64"
    raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")


def hparams(hparam_dict: dict, metric_dict: dict,
            hparam_domain_discrete: dict | None = None) -> tuple[Summary, Summary, Summary]:
    """The hparams plugin's three summaries: experiment, session start, session end."""
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.api_pb2 import (
        DataType,
        Experiment,
        HParamInfo,
        MetricInfo,
        MetricName,
        Status,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import (
        HParamsPluginData,
        SessionEndInfo,
        SessionStartInfo,
    )
    if not isinstance(hparam_dict, dict):
        raise TypeError("parameter: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        raise TypeError("parameter: metric_dict should be a dictionary, nothing logged.")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing "
                        "logged.")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or \
                not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same "
                            f"type as hparam_dict[{k}].")
    infos, ssi = [], SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        field, dtype = _hparam_value(v)
        setattr(ssi.hparams[k], field, make_np(v).item() if field == "number_value" else v)
        domain = None
        if k in domains:
            domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d})
                                                  for d in domains[k]])
        infos.append(HParamInfo(name=k, type=DataType.Value(dtype), domain_discrete=domain))

    def wrap(tag: str, **content) -> Summary:
        data = HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
        smd = _plugin_metadata(metadata.PLUGIN_NAME, data.SerializeToString())
        return Summary(value=[Summary.Value(tag=tag, metadata=smd)])

    exp = Experiment(hparam_infos=infos,
                     metric_infos=[MetricInfo(name=MetricName(tag=k)) for k in metric_dict])
    sei = SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))
    return (wrap(metadata.EXPERIMENT_TAG, experiment=exp),
            wrap(metadata.SESSION_START_INFO_TAG, session_start_info=ssi),
            wrap(metadata.SESSION_END_INFO_TAG, session_end_info=sei))


def compute_curve(labels: np.ndarray, predictions: np.ndarray, num_thresholds: int,
                  weights=None) -> np.ndarray:
    """Rows tp, fp, tn, fn, precision, recall at ``num_thresholds`` evenly spaced
    thresholds on predictions in [0, 1]."""
    weights = 1.0 if weights is None else weights
    buckets = np.int32(np.floor(predictions * (num_thresholds - 1)))
    pos = labels.astype(np.float64)
    span = (0, num_thresholds - 1)
    tp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span, weights=pos * weights)
    fp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span,
                           weights=(1.0 - pos) * weights)
    tp = np.cumsum(tp_b[::-1])[::-1]
    fp = np.cumsum(fp_b[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def pr_curve(tag: str, labels, predictions, num_thresholds: int = 127,
             weights=None) -> Summary:
    """A precision-recall curve for the pr_curves plugin (at most 127 thresholds, as torch)."""
    from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
    num_thresholds = min(num_thresholds, 127)
    data = compute_curve(make_np(labels), make_np(predictions), num_thresholds, weights)
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    proto = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(),
                        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=s)
                                                           for s in data.shape]))
    return Summary(value=[Summary.Value(tag=tag, tensor=proto,
                                        metadata=_plugin_metadata("pr_curves", content))])
