"""A fingerprint of the machine a measurement ran on: numbers only compare within one fingerprint."""

from __future__ import annotations

import platform
import shutil
import subprocess
from typing import Any

import psutil

from compress.core.artifacts import library_versions

INT8_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "avx512_bf16")


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo; empty (unknown) where there is none, as off Linux."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_vendor() -> str:
    """'amd', 'intel' or another vendor_id from /proc/cpuinfo, lower-cased; the machine's arch elsewhere."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    vendor = line.split(":", 1)[1].strip()
                    return {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(vendor, vendor.lower())
    except OSError:
        pass
    return platform.machine().lower()


# The widest int8 instructions first: what ONNX Runtime's int8 kernels run on decides their speed (AMX and VNNI
# multiply int8 directly; AVX2 widens to int16, so int8 gains little there).
_INT8_LEVELS = (("amx_int8", "amx"), ("avx512_vnni", "avx512-vnni"), ("avx_vnni", "avx-vnni"),
                ("avx512bw", "avx512"), ("avx2", "avx2"))


def cpu_kind(machine: dict[str, Any]) -> str:
    """The kind of CPU a record was measured on, as int8 speed sees it: vendor and widest int8 instructions
    ('amd-avx2', 'amd-avx512-vnni', 'intel-amx'). Read from a record's fingerprint, older records included."""
    vendor = machine.get("vendor")
    if not vendor:
        model = str(machine.get("cpu", "")).lower()
        vendor = "amd" if "amd" in model else "intel" if "intel" in model else str(machine.get("arch", "cpu"))
    flags = machine.get("int8_flags", {})
    level = next((name for flag, name in _INT8_LEVELS if flags.get(flag)), str(machine.get("arch", "other")))
    return f"{vendor}-{level}"


def this_cpu_kind() -> str:
    """cpu_kind of the machine this runs on."""
    flags = cpu_flags()
    return cpu_kind({"vendor": cpu_vendor(), "arch": platform.machine(),
                     "int8_flags": {f: f in flags for f in INT8_FLAGS}})


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[dict[str, Any]]:
    """Name, memory and driver of each NVIDIA GPU via nvidia-smi; empty where there is none."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    rows = [line.split(", ") for line in out.strip().splitlines() if line.strip()]
    return [{"name": r[0], "memory": r[1], "driver": r[2]} for r in rows if len(r) == 3]


def onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except ImportError:
        return []


def fingerprint(threads: int) -> dict[str, Any]:
    flags = cpu_flags()
    machine = {
        "cpu": cpu_model(),
        "vendor": cpu_vendor(),
        "arch": platform.machine(),
        "physical_cores": physical_cores(),
        "logical_cores": psutil.cpu_count(),
        "threads": threads,
        "int8_flags": {f: f in flags for f in INT8_FLAGS},
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "hostname": platform.node(),
        "gpus": gpus(),
        "onnxruntime_providers": onnxruntime_providers(),
        "versions": library_versions(),
    }
    return {**machine, "cpu_kind": cpu_kind(machine)}
