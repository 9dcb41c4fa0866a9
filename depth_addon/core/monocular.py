"""Monocular depth: load a transformers depth-estimation model (hub id or folder) and run it on a photo.

Models are run through the generic ``transformers`` classes ``AutoModelForDepthEstimation`` and
``AutoImageProcessor`` (transformers docs, "Monocular depth estimation" task guide and the model pages
for Depth Anything, DPT, ZoeDepth and DepthPro). The default is Depth Anything V2 Small
(Yang et al. 2024, "Depth Anything V2", arXiv:2406.09414; Apache-2.0), which predicts *relative
inverse depth* (larger = nearer, unknown scale and shift).

Design rules (DESIGN.md, convention 7):

- ``torch``, ``transformers`` and ``huggingface_hub`` are imported lazily inside functions, so the
  add-on imports and registers without them; :func:`available` says what is missing.
- Only safetensors weights are downloaded when a repository has them. A folder holding only a
  ``pytorch_model.bin`` is loaded by transformers with ``torch.load(weights_only=True)`` (the default
  in transformers >= 4.50/5.x and passed explicitly here when supported), which refuses pickled code.
  ``trust_remote_code=False`` always: no Python from a model repository ever runs.
- A hub id that is not in the local cache fails at once, with one line naming the id and how to
  supply a folder, when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set or the hub cannot be
  reached (a bounded ~3 s probe; transformers' own retries are never entered because models are
  always loaded from a local folder: a cache snapshot or a fresh ``snapshot_download``).
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import threading
import urllib.parse
import urllib.request
from typing import Optional

import numpy as np

from .depth import DepthResult
from .errors import Cancelled, InputError, ModelError
from .progress import ProgressFn, report

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"

#: id -> (label, licence of the weights, predicts metric depth?). Licences from the model cards;
#: CC-BY-NC-4.0 and apple-amlr forbid commercial use.
KNOWN_MODELS: dict = {
    "depth-anything/Depth-Anything-V2-Small-hf": ("Depth Anything V2 Small (fast)", "Apache-2.0", False),
    "depth-anything/Depth-Anything-V2-Base-hf": ("Depth Anything V2 Base", "CC-BY-NC-4.0", False),
    "depth-anything/Depth-Anything-V2-Large-hf": ("Depth Anything V2 Large (best, slow)", "CC-BY-NC-4.0", False),
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf": (
        "Depth Anything V2 Metric Indoor Small (metres, rooms)", "Apache-2.0", True),
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf": (
        "Depth Anything V2 Metric Outdoor Small (metres, streets)", "Apache-2.0", True),
    "Intel/dpt-hybrid-midas": ("DPT Hybrid (MiDaS 3.0)", "Apache-2.0", False),
    "Intel/dpt-large": ("DPT Large (MiDaS 3.0)", "Apache-2.0", False),
    "Intel/zoedepth-nyu-kitti": ("ZoeDepth NYU+KITTI (metres)", "MIT", True),
    "apple/DepthPro-hf": ("Apple Depth Pro (metres + focal length)", "apple-amlr", True),
}

#: transformers ``model_type``s whose output is metric depth in metres (besides Depth Anything
#: configs with ``depth_estimation_type == "metric"``).
_METRIC_MODEL_TYPES = {"zoedepth", "depth_pro", "glpn"}

#: Seconds allowed for the "can the hub be reached at all" probe before a download is attempted.
HUB_PROBE_TIMEOUT = 3.0
#: Seconds allowed for the hub's answer to the model-info request that precedes a download.
HUB_API_TIMEOUT = 4.0

_MODELS: dict = {}
_LOCK = threading.RLock()
_AVAILABLE_OK = False


# --------------------------------------------------------------------------------------------------
# environment


def available() -> Optional[str]:
    """Say whether monocular depth can run here.

    Returns:
        None when ``torch`` and ``transformers`` (with ``AutoModelForDepthEstimation``) import;
        otherwise a one-line message naming what is missing and how to install it. Never raises.
        A success is remembered (cheap to call from UI code afterwards); a failure is re-checked on
        every call so installing the packages takes effect without a restart.
    """
    global _AVAILABLE_OK
    if _AVAILABLE_OK:
        return None
    missing, broken = [], []
    for mod in ("torch", "transformers"):
        try:
            __import__(mod)
        except ModuleNotFoundError:
            missing.append(mod)
        except Exception as exc:  # installed but broken (ABI mismatch, missing DLL ...)
            broken.append(f"{mod} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    how = ("install with: pip install torch transformers "
           "(in Blender: the add-on's Preferences > Install dependencies button)")
    if missing or broken:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if broken:
            parts.append("failed to import " + "; ".join(broken))
        return f"monocular depth needs torch and transformers ({'; '.join(parts)}); {how}"
    try:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation  # noqa: F401
    except Exception as exc:
        return (f"transformers is too old or broken for depth models ({type(exc).__name__}); "
                "upgrade with: pip install -U transformers")
    _AVAILABLE_OK = True
    return None


def _require() -> None:
    msg = available()
    if msg is not None:
        raise ModelError(msg)


def resolve_device(preference: str = "auto") -> str:
    """Pick the torch device to run on.

    Args:
        preference: ``"auto"`` (``"cuda"`` if available, else ``"mps"`` (Apple GPU), else ``"cpu"``),
            or an explicit ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (case-insensitive).

    Returns:
        A torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Raises:
        ModelError: torch is missing, the device name is unknown, or the requested device is not
            available on this machine (e.g. ``"cuda"`` with a CPU-only torch build).
    """
    _require()
    import torch

    pref = (preference or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if pref == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_ok else "cpu"
    if pref == "cpu":
        return "cpu"
    if pref == "mps":
        if not mps_ok:
            raise ModelError("device 'mps' is not available here (needs an Apple-silicon Mac and a "
                             "torch build with MPS); use device 'auto' or 'cpu'")
        return "mps"
    m = re.fullmatch(r"cuda(?::(\d+))?", pref)
    if m:
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA" if torch.version.cuda is None
                   else "no CUDA GPU/driver was found")
            raise ModelError(f"device {preference!r} is not available here ({why}); "
                             "use device 'auto' or 'cpu'")
        if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
            raise ModelError(f"device {preference!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return pref
    raise ModelError(f"unknown device {preference!r}; expected auto, cpu, cuda, cuda:N or mps")


# --------------------------------------------------------------------------------------------------
# locating model files


def _is_true(value: Optional[str]) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE now, or as huggingface_hub saw them at its import."""
    if _is_true(os.environ.get("HF_HUB_OFFLINE")) or _is_true(os.environ.get("TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
        return bool(getattr(constants, "HF_HUB_OFFLINE", False))
    except Exception:
        return False


def _offline_message(repo_id: str) -> str:
    return (f"model '{repo_id}' is not in the local cache and cannot be downloaded (offline); "
            f"download it elsewhere (hf download {repo_id} --local-dir DIR) and pass --model DIR")


def _hub_endpoint() -> str:
    try:
        from huggingface_hub import constants
        return str(getattr(constants, "ENDPOINT", "") or "https://huggingface.co")
    except Exception:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """True if a TCP connection to the hub (or to the configured HTTPS proxy) opens within ``timeout``.

    Runs in a daemon thread so a hanging DNS lookup cannot block the caller past ``timeout``.
    """
    url = urllib.parse.urlsplit(_hub_endpoint())
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        proxies = urllib.request.getproxies()
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if proxy and not urllib.request.proxy_bypass(host):
            p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            host, port = p.hostname or host, p.port or 8080
    except Exception:
        pass
    result = {"ok": False}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError:
            pass

    t = threading.Thread(target=probe, name="depth_addon-hub-probe", daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result["ok"]


def _weights_kind(folder: pathlib.Path) -> Optional[str]:
    """"safetensors", "bin" or None for the weight files present in ``folder``."""
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if any(n.endswith(".safetensors") for n in names):
        return "safetensors"
    if "pytorch_model.bin" in names or "pytorch_model.bin.index.json" in names:
        return "bin"
    return None


def _folder_complete(folder: pathlib.Path) -> bool:
    return ((folder / "config.json").is_file() and (folder / "preprocessor_config.json").is_file()
            and _weights_kind(folder) is not None)


def _looks_like_path(name: str) -> bool:
    return (name.startswith((".", "~", "/", "\\")) or "\\" in name or name.count("/") > 1
            or bool(re.match(r"^[A-Za-z]:", name)))


def _hub_error(name: str):
    try:
        from huggingface_hub import errors
    except Exception:  # pragma: no cover
        return ()
    return tuple(c for c in (getattr(errors, name, None),) if isinstance(c, type))


def _download_tqdm(progress: Optional[ProgressFn]):
    """A tqdm class for ``snapshot_download`` that forwards progress (and Cancel) to ``progress``."""
    if progress is None:
        return None
    try:
        from huggingface_hub.utils import tqdm as hf_tqdm
    except Exception:  # pragma: no cover
        return None

    class _Tqdm(hf_tqdm):  # type: ignore[misc, valid-type]
        def update(self, n=1):
            out = super().update(n)
            total = self.total or 0
            report(progress, "download model", (self.n / total) if total else -1.0)
            return out

    return _Tqdm


def _hub_folder(repo_id: str, cache_dir, progress: Optional[ProgressFn]) -> pathlib.Path:
    """Local snapshot folder of hub model ``repo_id``: from the cache, else downloaded (bounded)."""
    from huggingface_hub import snapshot_download

    validation = _hub_error("HFValidationError")
    try:
        snap = pathlib.Path(snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True))
        if _folder_complete(snap):
            return snap
    except Cancelled:
        raise
    except validation as exc:
        raise ModelError(f"{repo_id!r} is neither a folder nor a valid Hugging Face model id "
                         f"({str(exc).splitlines()[0]})") from None
    except Exception:
        pass  # not cached (LocalEntryNotFoundError) or a partial snapshot: try to download

    if _offline() or not _hub_reachable():
        raise ModelError(_offline_message(repo_id))

    from huggingface_hub import HfApi

    report(progress, "download model", -1.0)
    not_found = _hub_error("RepositoryNotFoundError")
    gated = _hub_error("GatedRepoError")
    try:
        info = HfApi().model_info(repo_id, timeout=HUB_API_TIMEOUT)
        files = [s.rfilename for s in (info.siblings or [])]
        if any(f.endswith(".safetensors") for f in files):
            allow = ["*.json", "*.safetensors", "*.txt"]
        elif any(f.endswith(".bin") for f in files):
            allow = ["*.json", "*.bin", "*.txt"]  # loaded with weights_only=True
        else:
            raise ModelError(f"model '{repo_id}' has no safetensors or PyTorch weights on the hub")
        snap = pathlib.Path(snapshot_download(
            repo_id, cache_dir=cache_dir, allow_patterns=allow, etag_timeout=10,
            tqdm_class=_download_tqdm(progress)))
    except (Cancelled, ModelError):
        raise
    except gated:
        raise ModelError(f"model '{repo_id}' is gated: accept its licence at "
                         f"https://huggingface.co/{repo_id} and log in (hf auth login)") from None
    except not_found:
        raise ModelError(f"model '{repo_id}' was not found on the Hugging Face Hub (check the id, "
                         "or pass a local model folder)") from None
    except validation as exc:
        raise ModelError(f"{repo_id!r} is neither a folder nor a valid Hugging Face model id "
                         f"({str(exc).splitlines()[0]})") from None
    except Exception as exc:  # network trouble mid-way, disk full ...
        raise ModelError(f"{_offline_message(repo_id)} [{type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}]") from None
    report(progress, "download model", 1.0)
    return snap


def _check_model_folder(folder: pathlib.Path) -> dict:
    """Validate a local transformers depth-model folder; returns its parsed config.json."""
    cfg_path = folder / "config.json"
    if not folder.is_dir() or not cfg_path.is_file():
        raise ModelError(f"{folder} is not a transformers depth model (no config.json); pass a folder "
                         "made by save_pretrained / hf download, or a Hugging Face model id")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder} is not a transformers depth model (unreadable config.json: "
                         f"{exc})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES
        depth_types = set(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES)
    except Exception:  # pragma: no cover - private table moved; let from_pretrained decide
        depth_types = None
    if not model_type or (depth_types is not None and model_type not in depth_types):
        raise ModelError(f"{folder} is not a transformers depth model (its config.json model_type "
                         f"{model_type!r} is not a depth-estimation architecture)")
    if _weights_kind(folder) is None:
        raise ModelError(f"{folder} has no model weights (model.safetensors or pytorch_model.bin)")
    if not (folder / "preprocessor_config.json").is_file():
        raise ModelError(f"{folder} has no preprocessor_config.json (save the image processor with "
                         "the model)")
    return config


# --------------------------------------------------------------------------------------------------
# loading


def load_model(name_or_folder: str, *, device: str = "auto", cache_dir=None,
               progress: Optional[ProgressFn] = None) -> "DepthModel":
    """Load a depth-estimation model by Hugging Face hub id or local folder (cached per device).

    Args:
        name_or_folder: an existing folder holding ``config.json``, weights (``*.safetensors``
            preferred, ``pytorch_model.bin`` accepted) and ``preprocessor_config.json``; or a hub id
            such as :data:`DEFAULT_MODEL` (see :data:`KNOWN_MODELS`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (:func:`resolve_device`).
            Weights are float16 on cuda/mps, float32 on cpu.
        cache_dir: hub cache folder (default: the huggingface_hub cache, ``HF_HOME``/``HF_HUB_CACHE``).
        progress: optional callback (:mod:`.progress`); stages ``"download model"`` and
            ``"load model"``. It may raise :class:`Cancelled`.

    Returns:
        A :class:`DepthModel`. The same (name, device) returns the same object again at once until
        :func:`unload_models`.

    Raises:
        ModelError: torch/transformers missing; device unavailable; folder not a depth model;
            hub id not cached while offline/unreachable (fails in ~3 s at most, no retries); hub id
            unknown or gated; weights that fail to load.
        Cancelled: raised by ``progress``.

    Sources: transformers ``AutoModelForDepthEstimation`` / ``AutoImageProcessor`` docs;
    huggingface_hub ``snapshot_download`` docs (``local_files_only``, ``allow_patterns``).
    """
    _require()
    dev = resolve_device(device)
    name = str(name_or_folder).strip()
    if not name:
        raise ModelError("no depth model given; pass a Hugging Face model id or a model folder")
    path = pathlib.Path(name).expanduser()
    is_folder = path.exists() or _looks_like_path(name)
    key_name = str(path.resolve()) if is_folder else name
    key = (key_name, dev)
    with _LOCK:
        cached = _MODELS.get(key)
        if cached is not None:
            return cached
        report(progress, "load model", 0.0)
        if is_folder:
            if not path.exists():
                raise ModelError(f"model folder {path} does not exist")
            folder = path
        else:
            folder = _hub_folder(name, cache_dir, progress)
        config = _check_model_folder(folder)
        report(progress, "load model", 0.3)
        model = DepthModel._from_folder(folder, name=key_name, device=dev, config=config)
        report(progress, "load model", 1.0)
        _MODELS[key] = model
        return model


def unload_models() -> int:
    """Forget every cached model and free its memory.

    Returns:
        How many models were dropped (0 when none were loaded). Calls ``torch.cuda.empty_cache()``
        (and ``torch.mps.empty_cache()``) when a dropped model lived on that device.
    """
    with _LOCK:
        devices = {dev for (_, dev) in _MODELS}
        n = len(_MODELS)
        for m in _MODELS.values():
            m.model = None
        _MODELS.clear()
    if n:
        import gc
        gc.collect()
        try:
            import torch
            if any(d.startswith("cuda") for d in devices) and torch.cuda.is_available():
                torch.cuda.empty_cache()
            if "mps" in devices and hasattr(torch, "mps"):
                torch.mps.empty_cache()
        except Exception:  # freeing is best effort
            pass
    return n


# --------------------------------------------------------------------------------------------------
# inference


def _as_uint8_rgb(rgb: np.ndarray) -> tuple:
    """(H,W,3) uint8 copy of a photo array, plus notes. Accepts uint8/uint16/float, grey, RGBA."""
    notes = []
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
        notes.append("alpha channel ignored for depth estimation")
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"photo must be an (H, W, 3) RGB array, got shape {np.shape(rgb)}")
    if min(a.shape[:2]) < 2:
        raise InputError(f"photo is too small for depth estimation: {a.shape[1]}x{a.shape[0]} px")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a), notes
    if a.dtype == np.uint16:
        return (a.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8), notes
    if a.dtype.kind in "fb":
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), notes
    raise InputError(f"photo dtype {a.dtype} is not supported (use uint8, uint16 or float in [0, 1])")


def _progress_hooks(model, progress: Optional[ProgressFn], lo: float, hi: float) -> list:
    """Forward hooks on the encoder blocks that report progress in [lo, hi] and let Cancel through."""
    if progress is None:
        return []
    blocks = [m for n, m in model.named_modules() if re.search(r"encoder\.layers?\.\d+$", n)]
    if not blocks:
        return []
    state = {"calls": 0}
    total = len(blocks)

    def hook(_module, _inputs, _output):
        state["calls"] += 1
        report(progress, "estimate depth", lo + (hi - lo) * min(1.0, state["calls"] / total))

    return [b.register_forward_hook(hook) for b in blocks]


class DepthModel:
    """A loaded transformers depth model and its image processor, ready for :meth:`predict`.

    Attributes:
        name: the hub id, or the resolved folder path it was loaded from.
        device: torch device string it runs on.
        is_metric: True if :meth:`predict` returns metric depth in metres (kind ``"metric"``);
            False for relative inverse depth (kind ``"inverse"``).
        model_type: transformers ``config.model_type`` (``"depth_anything"``, ``"dpt"`` ...).
        dtype: torch dtype of the weights (float16 on cuda/mps, float32 on cpu).
    """

    def __init__(self, model, processor, *, name: str, device: str, is_metric: bool,
                 model_type: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        self.device = device
        self.is_metric = is_metric
        self.model_type = model_type
        self.dtype = next(model.parameters()).dtype

    def __repr__(self) -> str:
        kind = "metric" if self.is_metric else "relative inverse"
        return f"DepthModel({self.name!r}, device={self.device!r}, {kind} depth)"

    @classmethod
    def _from_folder(cls, folder: pathlib.Path, *, name: str, device: str, config: dict) -> "DepthModel":
        import inspect

        import torch
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        kwargs = {"local_files_only": True, "trust_remote_code": False}
        kind = _weights_kind(folder)
        kwargs["use_safetensors"] = kind == "safetensors"
        try:
            params = inspect.signature(AutoModelForDepthEstimation.from_pretrained).parameters
            from transformers import PreTrainedModel
            params = {**params, **inspect.signature(PreTrainedModel.from_pretrained).parameters}
            if "weights_only" in params:
                kwargs["weights_only"] = True
        except (TypeError, ValueError, ImportError):  # pragma: no cover
            pass
        try:
            model = AutoModelForDepthEstimation.from_pretrained(str(folder), **kwargs)
            processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True,
                                                           trust_remote_code=False)
        except Cancelled:
            raise
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ModelError(f"cannot load depth model from {folder}: {type(exc).__name__}: "
                             f"{first}"[:400]) from None
        dtype = torch.float16 if device.startswith(("cuda", "mps")) else torch.float32
        try:
            model = model.to(device=device, dtype=dtype).eval()
        except RuntimeError as exc:
            raise ModelError(f"cannot move depth model to {device}: {str(exc).splitlines()[0]}") from None
        model_type = str(config.get("model_type", ""))
        is_metric = (model_type in _METRIC_MODEL_TYPES
                     or config.get("depth_estimation_type") == "metric")
        if model_type == "depth_pro" and getattr(model, "fov_model", None) is None:
            is_metric = False  # no field of view -> canonical inverse depth only
        return cls(model, processor, name=name, device=device, is_metric=is_metric,
                   model_type=model_type)

    # ----------------------------------------------------------------------------------------------

    def _preprocess(self, img: np.ndarray, max_side: Optional[int], notes: list):
        kw = {"return_tensors": "pt", "input_data_format": "channels_last"}
        inputs = self.processor(images=img, **kw)
        pv = inputs["pixel_values"]
        if max_side is not None and max(pv.shape[-2:]) > max_side:
            size = getattr(self.processor, "size", None)
            size = dict(size) if size is not None and not isinstance(size, dict) else size
            if (self.model_type != "depth_pro" and isinstance(size, dict)
                    and "height" in size and "width" in size):
                h, w = img.shape[:2]
                r = max_side / float(max(h, w))
                mult = int(getattr(self.processor, "ensure_multiple_of", 1) or 1)
                mult = mult if mult >= 1 else 1
                th = max(mult, int(round(h * r / mult)) * mult)
                tw = max(mult, int(round(w * r / mult)) * mult)
                inputs = self.processor(images=img, size={"height": th, "width": tw}, **kw)
            else:
                notes.append(f"max_side={max_side} ignored: {self.model_type} runs at a fixed size")
        return inputs

    def predict(self, rgb: np.ndarray, *, max_side: Optional[int] = None,
                progress: Optional[ProgressFn] = None) -> DepthResult:
        """Estimate depth for one photo.

        Args:
            rgb: (H, W, 3) photo, uint8 [0, 255] or float [0, 1] (uint16, grey (H, W) and RGBA are
                accepted too; alpha is ignored). It is converted to 8-bit RGB (what the models were
                trained on) and resized by the model's image processor (e.g. Depth Anything: shorter
                side 518 px, multiple of 14, aspect kept).
            max_side: optional cap (px) on the longer side of the network input; a lower value is
                faster and coarser. None = the processor's own size. Ignored (with a note) for
                fixed-size models (DepthPro).
            progress: optional callback; stage ``"estimate depth"`` from 0 to 1, called before and
                after inference and after each encoder block, so it may raise :class:`Cancelled`
                mid-inference.

        Returns:
            :class:`DepthResult` on the photo's own (H, W) grid: ``values`` float32 —
            kind ``"inverse"`` (relative inverse depth, larger = nearer, unknown scale/shift) for
            relative models (Depth Anything, DPT/MiDaS), kind ``"metric"`` (metres along the optical
            axis) for metric models (Depth Anything metric, ZoeDepth, DepthPro). ``valid`` is True
            where the value is finite (and > 0 for metric). ``K`` (3, 3) float64 from DepthPro's
            estimated field of view (f = 0.5 W / tan(fov/2), principal point at the image centre),
            else None. ``source`` = model name.

        Raises:
            InputError: the array is not an image.
            ModelError: the model was unloaded, or inference failed (e.g. out of memory).
            Cancelled: raised by ``progress``.

        The prediction (network resolution) is resized to (H, W) with bicubic interpolation
        (``torch.nn.functional.interpolate``) and clamped to the range of the raw prediction, so
        the cubic kernel cannot overshoot into negative depths. ZoeDepth's reflect padding
        (``int(sqrt(side/2)*3)`` px per border, transformers ZoeDepth docs) is cropped away;
        DepthPro's canonical inverse depth is converted to metres as Z = f / (W * d_canonical)
        (Bochkovskii et al. 2024, "Depth Pro"; transformers DepthPro docs).
        """
        if self.model is None:
            raise ModelError(f"depth model {self.name!r} was unloaded; load it again")
        import torch
        import torch.nn.functional as F

        img, notes = _as_uint8_rgb(rgb)
        H, W = img.shape[:2]
        report(progress, "estimate depth", 0.0)
        inputs = self._preprocess(img, max_side, notes)
        pv = inputs["pixel_values"].to(device=self.device, dtype=self.dtype)
        report(progress, "estimate depth", 0.05)

        hooks = _progress_hooks(self.model, progress, 0.05, 0.9)
        try:
            with torch.inference_mode():
                out = self.model(pixel_values=pv)
                pred = out.predicted_depth
                fov = getattr(out, "field_of_view", None)
                pred = pred.float()
                if self.device == "mps":  # bicubic upsampling support on MPS varies by version
                    pred = pred.cpu()
                while pred.dim() > 2:
                    pred = pred[0]
                lo, hi = pred.min(), pred.max()
                x = pred[None, None]
                if self.model_type == "zoedepth" and getattr(self.processor, "do_pad", False):
                    ph, pw = int(np.sqrt(H / 2) * 3), int(np.sqrt(W / 2) * 3)
                    x = F.interpolate(x, size=(H + 2 * ph, W + 2 * pw), mode="bicubic",
                                      align_corners=False)
                    x = x[..., ph:ph + H, pw:pw + W]
                else:
                    x = F.interpolate(x, size=(H, W), mode="bicubic", align_corners=False)
                x = torch.clamp(x[0, 0], min=lo, max=hi)
                K = None
                if self.model_type == "depth_pro":
                    if fov is not None:
                        fov_deg = float(fov.reshape(-1)[0].float().cpu())
                        f = 0.5 * W / np.tan(0.5 * np.deg2rad(fov_deg))
                        x = 1.0 / torch.clamp(x * (W / f), min=1e-4, max=1e4)
                        K = np.array([[f, 0.0, (W - 1) / 2.0], [0.0, f, (H - 1) / 2.0],
                                      [0.0, 0.0, 1.0]], dtype=np.float64)
                        notes.append(f"DepthPro field of view {fov_deg:.1f} deg -> f = {f:.1f} px")
                    else:
                        notes.append("DepthPro without its field-of-view head: relative inverse depth")
                values = x.cpu().numpy().astype(np.float32, copy=False)
        except (Cancelled, InputError):
            raise
        except RuntimeError as exc:
            text = str(exc)
            if "out of memory" in text.lower() or type(exc).__name__ == "OutOfMemoryError":
                raise ModelError(f"ran out of memory estimating depth on {self.device}; use a "
                                 "smaller max_side or device 'cpu'") from None
            raise ModelError(f"depth inference failed on {self.device}: "
                             f"{text.splitlines()[0] if text else type(exc).__name__}") from None
        finally:
            for h in hooks:
                h.remove()

        kind = "metric" if (self.is_metric and (self.model_type != "depth_pro" or K is not None)) \
            else "inverse"
        valid = np.isfinite(values)
        if kind == "metric":
            valid &= values > 0
        report(progress, "estimate depth", 1.0)
        return DepthResult(values=np.ascontiguousarray(values), kind=kind, valid=valid, K=K,
                           source=self.name, notes=notes)


def estimate_monocular(rgb: np.ndarray, model: str = DEFAULT_MODEL, *, device: str = "auto",
                       max_side: Optional[int] = None, cache_dir=None,
                       progress: Optional[ProgressFn] = None) -> DepthResult:
    """Load (or reuse) ``model`` with :func:`load_model` and run :meth:`DepthModel.predict` on ``rgb``.

    Args:
        rgb: (H, W, 3) uint8 or float [0, 1] photo.
        model: hub id or local folder (default :data:`DEFAULT_MODEL`, Depth Anything V2 Small).
        device: see :func:`resolve_device`.
        max_side: cap on the network input's longer side in px (None = the model's own size).
        cache_dir: hub cache folder (None = huggingface_hub's default).
        progress: optional callback (may raise :class:`Cancelled`).

    Returns:
        :class:`DepthResult` (H, W) float32, kind ``"inverse"`` or ``"metric"``.

    Raises:
        ModelError, InputError, Cancelled: as :func:`load_model` and :meth:`DepthModel.predict`.
    """
    return load_model(model, device=device, cache_dir=cache_dir, progress=progress).predict(
        rgb, max_side=max_side, progress=progress)
