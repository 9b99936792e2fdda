"""The CPU's cache sizes (``cache_sizes.py``) and the GEMM blocking derived from them."""
import pytest

from nbkeras.kernels.cpu import cache_sizes, gemm


def _cache(root, index, level, kind, size):
    folder = root / f"index{index}"
    folder.mkdir()
    (folder / "level").write_text(f"{level}\n")
    (folder / "type").write_text(f"{kind}\n")
    (folder / "size").write_text(f"{size}\n")
    return folder


@pytest.mark.parametrize("text, size", [("48K", 48 * 1024), ("2048K", 2 << 20), ("1M", 1 << 20),
                                        ("512", 512), (" 32K\n", 32 * 1024)])
def test_sysfs_sizes_are_parsed(text, size):
    assert cache_sizes.parse_size(text) == size


def test_data_and_unified_caches_are_read_from_sysfs(tmp_path):
    """The layout Linux gives: instruction caches left out, a folder with a
    missing or unreadable entry skipped."""
    _cache(tmp_path, 0, 1, "Data", "48K")
    _cache(tmp_path, 1, 1, "Instruction", "32K")
    _cache(tmp_path, 2, 2, "Unified", "1024K")
    _cache(tmp_path, 3, 3, "Unified", "32768K")
    (_cache(tmp_path, 4, 2, "Unified", "9K") / "size").write_text("garbage\n")
    assert cache_sizes.from_sysfs(str(tmp_path)) == {1: 48 << 10, 2: 1 << 20, 3: 32 << 20}
    assert cache_sizes.data_cache_bytes(str(tmp_path)) == {1: 48 << 10, 2: 1 << 20}


def test_sizes_the_cpu_does_not_report_are_assumed(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_sizes, "from_sysconf", lambda: {})
    _cache(tmp_path, 0, 1, "Data", "64K")
    assert cache_sizes.data_cache_bytes(str(tmp_path)) == {1: 64 << 10,
                                                           2: cache_sizes.DEFAULT_BYTES[2]}
    assert cache_sizes.data_cache_bytes(str(tmp_path / "none")) == cache_sizes.DEFAULT_BYTES


def test_this_machine_reports_its_l2():
    assert 64 << 10 <= cache_sizes.L2_BYTES <= 64 << 20


@pytest.mark.parametrize("l2, panel, depth", [
    (1 << 20, 64, 963),      # AMD Zen 5, AVX-512 panels: 72 x 963 + 963 x 64 floats = 512 KB
    (512 << 10, 16, 744),    # AMD Zen 3, AVX2 panels
    (2 << 20, 64, 1024),     # Intel Xeon (2 MB): capped
    (64 << 10, 64, 128),     # a tiny L2: floored
])
def test_slice_depth_fills_half_the_l2(l2, panel, depth):
    got = gemm.slice_depth_limit(l2, panel, rows=72)
    assert got == depth
    assert got == 128 or got == 1024 or 4 * got * (72 + panel) <= l2 // 2 < 4 * (got + 1) * (72 + panel)


@pytest.mark.parametrize("l1, panel, depth", [
    (32 << 10, 16, 256),     # AVX2 panels in half of a 32 KB L1 (AMD Zen 3 / 4, Intel client)
    (48 << 10, 16, 384),     # ... of a 48 KB L1 (Intel since Ice Lake)
    (48 << 10, 64, 963),     # AVX-512 panels: 96 rows in half the L1, too shallow: the L2 rule
    (64 << 10, 64, 963),
    (0, 16, 1024),           # no L1 given: the L2 rule (capped)
])
def test_a_panel_that_fits_half_the_l1_deep_enough_stays_there(l1, panel, depth):
    got = gemm.slice_depth_limit(1 << 20, panel, rows=72, l1_bytes=l1)
    assert got == depth
    if got != gemm.slice_depth_limit(1 << 20, panel, rows=72):
        assert gemm.L1_PANEL_DEPTH <= got and 4 * got * panel <= l1 // 2


def test_the_gemm_uses_this_machines_blocking():
    assert gemm.DEPTH == gemm.slice_depth_limit(cache_sizes.L2_BYTES,
                                                l1_bytes=cache_sizes.L1_BYTES)
    assert gemm.ROW_BLOCK % 6 == 0 and gemm.ROW_BLOCK % 8 == 0   # whole tiles of either height
