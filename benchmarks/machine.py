"""Which CPU a figure came from (the machines here vary: AMD EPYC, Intel Xeon)."""
import os


def cpu_description():
    """'<model name>, <n> cores, AVX-512' or '..., AVX2, no AVX-512' (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("model name"))
        avx512 = "avx512f" in text
        return f"{model}, {os.cpu_count()} cores, {'AVX-512' if avx512 else 'AVX2, no AVX-512'}"
    except (OSError, StopIteration):
        return "unknown CPU"
